/**
 * holdBlobs takes no lock when no GC runs (it is called for every cached step), so
 * these pin down its guarantee against a GC that holds the store lock meanwhile: the
 * hold is in the lease for any later GC, and a blob deleted by a GC already running
 * is reported missing (a cache miss), never used.
 */
import { mkdtempSync, existsSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { withFileLock } from "../../src/file-lock.js";
import { Lease, liveLeases } from "../../src/store/lease.js";

const digest = `sha256:${"a".repeat(64)}`;
const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size: 3 };

function store(): { root: string; blob: string; present: (d: string) => Promise<boolean> } {
  const root = mkdtempSync(join(tmpdir(), "tbuild-hold-"));
  mkdirSync(join(root, "blobs", "sha256"), { recursive: true });
  const blob = join(root, "blobs", "sha256", "a".repeat(64));
  writeFileSync(blob, "abc");
  return { root, blob, present: async () => existsSync(blob) };
}

describe("Lease.holdBlobs", () => {
  it("holds a present blob where the next GC reads leases, without taking the store lock", async () => {
    const { root, present } = store();
    const lease = await Lease.open(root, "build");
    expect(await lease.holdBlobs([layer], present)).toBe(true);
    expect(existsSync(join(root, "index.json.lock"))).toBe(false);
    const holds = await liveLeases(root, { dryRun: true });
    expect(holds.blobs.map((b) => b.digest)).toEqual([digest]);
    await lease.release();
    expect((await liveLeases(root, { dryRun: true })).count).toBe(0);
  });

  it("waits for a GC holding the store lock and reports the blob it deleted as missing", async () => {
    const { root, blob, present } = store();
    const lease = await Lease.open(root, "build");
    let answer: boolean | undefined;
    let hold: Promise<boolean> | undefined;
    await withFileLock(join(root, "index.json.lock"), async () => {
      // A GC that read the leases before the hold was written: it still deletes the blob.
      hold = lease.holdBlobs([layer], present);
      void hold.then((r) => (answer = r));
      await new Promise((r) => setTimeout(r, 100));
      expect(answer).toBeUndefined();
      rmSync(blob);
    });
    expect(await hold).toBe(false);
    await lease.release();
  });
});
