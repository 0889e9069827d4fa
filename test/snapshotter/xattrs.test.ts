/**
 * Extended attributes through the one helper process a tbuild process keeps: reads and
 * writes asked at once each get their own answer, and a request that fails (a missing
 * path) says which path and leaves later requests working.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readTreeXattrs, readXattrs, writeXattrs } from "../../src/snapshotter/xattrs.js";
import { tmp } from "./helpers.js";

const work = tmp("tbuild-xattrs-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Whether this file system takes user.* attributes (tmpfs before 6.6 does not). */
function userXattrs(dir: string): boolean {
  const probe = join(dir, "probe");
  writeFileSync(probe, "");
  const ok = spawnSync("setfattr", ["-n", "user.probe", "-v", "1", probe]).status === 0;
  rmSync(probe);
  return ok;
}

describe.skipIf(!userXattrs(work))("extended attributes", () => {
  it("answers many requests asked at once, each with its own files' attributes", async () => {
    const dir = join(work, "many");
    mkdirSync(join(dir, "sub"), { recursive: true });
    const files = Array.from({ length: 20 }, (_, i) => join(dir, i % 2 === 0 ? "sub" : "", `f${i}`));
    for (const f of files) writeFileSync(f, "");
    await Promise.all(files.map((f, i) => writeXattrs([{ path: f, attrs: [[`user.n${i}`, Buffer.from(`value ${i}`)]] }], "test")));
    const read = await Promise.all(files.map((f) => readXattrs([f, join(dir, "absent")])));
    read.forEach((m, i) => {
      expect([...m.keys()]).toEqual([files[i]]);
      expect(m.get(files[i]!)?.get(`user.n${i}`)?.toString()).toBe(`value ${i}`);
    });
    const tree = await readTreeXattrs(join(dir, "sub"));
    expect([...tree.keys()].sort()).toEqual(files.filter((_, i) => i % 2 === 0).sort());
  });

  it("reads a tree whose answer spans many pipe reads (every file with an attribute)", async () => {
    const dir = join(work, "large");
    mkdirSync(dir);
    const value = Buffer.alloc(200, "v");
    const files = Array.from({ length: 3000 }, (_, i) => join(dir, `file-with-a-long-name-${i}`));
    for (const f of files) writeFileSync(f, "");
    await writeXattrs(files.map((path) => ({ path, attrs: [["user.big", value]] })), "test");
    const tree = await readTreeXattrs(dir);
    expect(tree.size).toBe(3000);
    expect(files.every((f) => tree.get(f)?.get("user.big")?.equals(value))).toBe(true);
  });

  it("reports a failed write with its path, and keeps serving afterwards", async () => {
    const missing = join(work, "no-such-dir", "file");
    await expect(writeXattrs([{ path: missing, attrs: [["user.x", Buffer.from("1")]] }], "setting attributes")).rejects.toThrow(
      `setting attributes: ${missing}: user.x: No such file or directory`,
    );
    const ok = join(work, "after");
    writeFileSync(ok, "");
    await writeXattrs([{ path: ok, attrs: [["user.after", Buffer.from("yes")]] }], "test");
    expect((await readXattrs([ok])).get(ok)?.get("user.after")?.toString()).toBe("yes");
  });
});
