/**
 * Layer gzip: any gunzip reads back exactly the tar; the blob is the same however the tar
 * arrives in chunks (so a layer's digest is reproducible); random data is stored rather
 * than deflated, text is compressed as gzip -6 would.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { blockGzip } from "../../src/snapshotter/block-gzip.js";

async function gz(data: Buffer, chunk: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunk) parts.push(data.subarray(off, off + chunk));
  return buffer(Readable.from(parts).pipe(blockGzip()));
}

function text(n: number): Buffer {
  const line = (i: number): string => `line ${i} lorem ipsum dolor sit amet, consectetur adipiscing elit\n`;
  let s = "";
  for (let i = 0; s.length < n; i++) s += line(i);
  return Buffer.from(s.slice(0, n));
}

/** Text, then random bytes, then text again, crossing block and piece boundaries at odd offsets. */
const mixed = Buffer.concat([text(1_500_000), randomBytes(2_300_001), text(700_003), randomBytes(5), text(3)]);

describe("layer gzip", () => {
  it("decompresses to exactly its input, with zlib and with gzip(1)", async () => {
    for (const data of [Buffer.alloc(0), Buffer.from("x"), text(100), mixed]) {
      const blob = await gz(data, 65_536);
      expect(gunzipSync(blob).equals(data)).toBe(true);
      const cli = spawnSync("gzip", ["-dc"], { input: blob, maxBuffer: 64 << 20 });
      expect(cli.status).toBe(0);
      expect(cli.stdout.equals(data)).toBe(true);
    }
  });

  it("gives the same bytes whatever the chunking of its input", async () => {
    const one = await gz(mixed, mixed.length);
    for (const chunk of [4096 * 7 + 3, 1 << 20]) expect((await gz(mixed, chunk)).equals(one)).toBe(true);
    const small = Buffer.concat([text(100_000), randomBytes(100_000)]);
    expect((await gz(small, 1)).equals(await gz(small, small.length))).toBe(true);
  });

  it("stores random data instead of deflating it, and compresses text about as gzip -6 does", async () => {
    const random = randomBytes(4 << 20);
    const r = await gz(random, 1 << 20);
    expect(r.length).toBeGreaterThan(random.length);
    expect(r.length).toBeLessThan(random.length * 1.001 + 64);
    const t = text(4 << 20);
    const c = await gz(t, 1 << 20);
    expect(c.length).toBeLessThan(gzipSync(t, { level: 6 }).length * 1.02);
  });
});
