import { execFileSync } from "node:child_process";
import { lstatSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FileHashes } from "../../src/context/file-hashes.js";

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

describe("context file hashes", () => {
  it("remembers digests across builds by path, size, mtime and inode, and rehashes what changed", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tbuild-hashes-"));
    const file = path.join(dir, "a.txt");
    const store = path.join(dir, "hashes.json");
    writeFileSync(file, "first");
    const before = lstatSync(file, { bigint: true });

    const one = await FileHashes.load(store);
    expect(await one.digest(file, before)).toBe(sha("first"));
    await one.save();

    // Same size, same mtime, same inode: a later build trusts the record and reads nothing.
    writeFileSync(file, "FIRST");
    const ns = before.mtimeNs;
    execFileSync("touch", ["-m", "-d", `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`, file]);
    const two = await FileHashes.load(store);
    expect(await two.digest(file, lstatSync(file, { bigint: true }))).toBe(sha("first"));

    // A newer mtime means new content is read.
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(await two.digest(file, lstatSync(file, { bigint: true }))).toBe(sha("FIRST"));
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
