import { execFileSync } from "node:child_process";
import { lstatSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FileHashes } from "../../src/context/file-hashes.js";

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

describe("context file hashes", () => {
  it("remembers digests across builds by path, size, mtime, ctime and inode, and rehashes what changed", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tbuild-hashes-"));
    const file = path.join(dir, "a.txt");
    const store = path.join(dir, "hashes.json");
    writeFileSync(file, "first");
    // Older than the racy window: a digest read now is remembered.
    await new Promise((r) => setTimeout(r, 2100));
    const before = lstatSync(file, { bigint: true });

    const one = await FileHashes.load(store);
    expect(await one.digest(file, before)).toBe(sha("first"));
    await one.save();

    // The same stat: a later build trusts the record and reads nothing (the file is gone).
    rmSync(file);
    const two = await FileHashes.load(store);
    expect(await two.digest(file, before)).toBe(sha("first"));

    // New content of the same size put back under the old mtime (cp -p, touch -d): its ctime is new.
    writeFileSync(file, "FIRST");
    const ns = before.mtimeNs;
    execFileSync("touch", ["-m", "-d", `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`, file]);
    const after = lstatSync(file, { bigint: true });
    expect(after.mtimeNs).toBe(before.mtimeNs);
    expect(await two.digest(file, after)).toBe(sha("FIRST"));

    // A newer mtime means new content is read.
    writeFileSync(file, "third");
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(await two.digest(file, lstatSync(file, { bigint: true }))).toBe(sha("third"));
  });

  it("does not trust a digest read just after the file changed: a second write in the same clock tick keeps its stat", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tbuild-hashes-"));
    const file = path.join(dir, "version.txt");
    const store = path.join(dir, "hashes.json");
    writeFileSync(file, "v1");
    const st = lstatSync(file, { bigint: true });
    const one = await FileHashes.load(store);
    expect(await one.digest(file, st)).toBe(sha("v1"));
    await one.save();
    // On a file system with coarse timestamps the rewrite reports the very same stat.
    writeFileSync(file, "v2");
    const two = await FileHashes.load(store);
    expect(await two.digest(file, st)).toBe(sha("v2"));
  });

  it("does not remember transient files", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tbuild-hashes-"));
    const file = path.join(dir, "scratch.txt");
    writeFileSync(file, "x");
    const hashes = await FileHashes.load(path.join(dir, "h.json"), (abs) => abs === file);
    await hashes.digest(file, lstatSync(file, { bigint: true }));
    await hashes.save();
    const again = await FileHashes.load(path.join(dir, "h.json"));
    writeFileSync(file, "y");
    expect(await again.digest(file, lstatSync(file, { bigint: true }))).toBe(sha("y"));
  });
});
