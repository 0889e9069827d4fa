/**
 * Rootless, tested as a real non-root user with a subordinate id range (see
 * test/setup/rootless.ts): the compiled selftest imports a layer with files owned by
 * image users, makes RUN-like edits inside the namespace helper and diffs them, with
 * every available driver. Skipped when the suite itself runs unprivileged.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rootlessEnv } from "../setup/rootless.js";

const env = rootlessEnv();

describe.skipIf(env === undefined)("as a non-root user with subordinate ids", () => {
  it("imports, edits and diffs with image ownership kept, in every driver, with identical layers", async () => {
    const e = env!;
    const dir = e.workDir();
    const r = await e.run(process.execPath, [join(e.app, "dist/snapshotter/selftest.js"), dir]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      uid: number;
      overlay: boolean;
      results: { driver: string; applyWarnings: string[]; layer: { diffID: string; digest: string }; entries: { name: string; type: string; uid: number; gid: number; mode: number; linkname?: string }[]; hostOwnerOfWww: { uid: number } }[];
    };
    expect(out.uid).toBe(e.uid);
    const subuid = readFileSync("/etc/subuid", "utf8").split("\n").find((l) => l.startsWith("tbuildtest:"))!;
    const base = Number(subuid.split(":")[1]);
    for (const res of out.results) {
      // On the host, image uid 33 is a subordinate id; inside the layer it is 33 again.
      expect(res.hostOwnerOfWww.uid).toBe(base + 33 - 1);
      expect(res.applyWarnings).toEqual([expect.stringMatching(/entry 'dev\/null' is a character-device 1:3 that cannot be created without real root/)]);
      const byName = new Map(res.entries.map((x) => [x.name, x]));
      expect(byName.get("var/cache/new")).toMatchObject({ type: "file", uid: 999, gid: 999 });
      expect(byName.get("var/cache/.wh..wh..opq")).toBeDefined();
      expect(byName.get("etc/.wh.gone")).toBeDefined();
      expect(byName.get("etc/motd.link")).toMatchObject({ type: "link", linkname: "etc/motd" });
      expect(byName.get("usr/bin/tool")).toMatchObject({ mode: 0o4755, uid: 0 });
    }
    expect(new Set(out.results.map((x) => x.layer.digest)).size).toBe(1);
    if (out.overlay) expect(out.results.map((x) => x.driver)).toEqual(["overlay", "native"]);
  });
});
