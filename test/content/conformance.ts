/**
 * What every ContentStore promises (src/content/content.ts), as a suite any implementation
 * runs: `contentStoreConformance("local", () => new LocalContentStore(dir))`. It goes through
 * the interfaces and the blob helpers only, never an implementation's files.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { hasBlob, readBlob, writeBlob } from "../../src/content/blob-io.js";
import type { ContentStore, StoredBlob } from "../../src/content/content.js";
import { isTbuildError } from "../../src/errors.js";
import { digestOf, digestStream } from "../../src/oci/digest.js";
import { deterministicChunks } from "../store/fixtures/chunks.js";

/** A fresh, empty store per call. */
export type ContentStoreFactory = () => Promise<ContentStore>;

async function walked(cs: ContentStore): Promise<StoredBlob[]> {
  const out: StoredBlob[] = [];
  for await (const b of cs.walk()) out.push(b);
  return out;
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function contentStoreConformance(name: string, factory: ContentStoreFactory): void {
  describe(`content store conformance: ${name}`, () => {
    it("stores, reads back, lists in digest order and deletes blobs by digest", async () => {
      const cs = await factory();
      const before = Date.now();
      const hello = await writeBlob(cs, "hello");
      const world = await writeBlob(cs, Buffer.from("world"));
      expect(hello).toEqual({ digest: digestOf("hello"), size: 5 });
      expect((await readBlob(cs, hello.digest)).toString()).toBe("hello");
      const info = await cs.info(hello.digest);
      expect(info).toMatchObject(hello);
      expect(info!.updatedAt).toBeGreaterThanOrEqual(before - 1000);
      expect((await walked(cs)).map((b) => b.digest)).toEqual([hello.digest, world.digest].sort());
      await cs.delete(hello.digest);
      await cs.delete(hello.digest); // absent: not an error
      expect(await hasBlob(cs, hello.digest)).toBe(false);
      expect((await walked(cs)).map((b) => b.digest)).toEqual([world.digest]);
    });

    it("reads a byte range of a blob", async () => {
      const cs = await factory();
      const info = await writeBlob(cs, "0123456789");
      expect(await text(cs.openRead(info.digest, { start: 2, end: 5 }))).toBe("2345");
      expect(await text(cs.openRead(info.digest, { start: 9, end: 9 }))).toBe("9");
    });

    it("refuses a stream whose digest differs and stores nothing", async () => {
      const cs = await factory();
      const good = digestOf("the real content");
      const err = await writeBlob(cs, Readable.from([Buffer.from("the real c0ntent")]), { digest: good }).catch((e: unknown) => e);
      expect(isTbuildError(err, "failed-precondition")).toBe(true);
      expect(String((err as Error).message)).toContain(`expected ${good}`);
      expect(await hasBlob(cs, good)).toBe(false);
      expect(await walked(cs)).toEqual([]);
    });

    it("refuses a stream whose size differs from the descriptor's", async () => {
      const cs = await factory();
      const err = await writeBlob(cs, "short", { digest: digestOf("short"), size: 6 }).catch((e: unknown) => e);
      expect(isTbuildError(err, "failed-precondition")).toBe(true);
      expect(String((err as Error).message)).toContain("size 5, expected 6");
      expect(await walked(cs)).toEqual([]);
    });

    it("refuses an oversized stream as soon as it overruns the expected size", async () => {
      const cs = await factory();
      let produced = 0;
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const c of deterministicChunks()) {
          produced += c.length;
          yield c;
        }
      }
      const err = await writeBlob(cs, counted(), { size: 1000 }).catch((e: unknown) => e);
      expect(isTbuildError(err, "failed-precondition")).toBe(true);
      // Stopped within a few chunks of the overrun, not after all 16 MiB.
      expect(produced).toBeLessThan(1024 * 1024);
      expect(await walked(cs)).toEqual([]);
    });

    it("a source that fails mid-stream stores nothing", async () => {
      const cs = await factory();
      async function* broken(): AsyncGenerator<Uint8Array> {
        yield Buffer.from("partial");
        throw new Error("connection reset");
      }
      await expect(writeBlob(cs, broken())).rejects.toThrow(/connection reset/);
      expect(await walked(cs)).toEqual([]);
    });

    it("a missing blob is a not-found error at once, not an errno or a later stream error", async () => {
      const cs = await factory();
      const d = digestOf("absent");
      expect(() => cs.openRead(d)).toThrow(expect.objectContaining({ category: "not-found" }));
      await expect(readBlob(cs, d)).rejects.toThrow(expect.objectContaining({ category: "not-found" }));
      expect(await cs.info(d)).toBeUndefined();
    });

    it("readBlob refuses blobs larger than its limit", async () => {
      const cs = await factory();
      const big = await writeBlob(cs, Buffer.alloc(100));
      await expect(readBlob(cs, big.digest, 10)).rejects.toThrow(/more than the 10 allowed/);
    });

    it("a writer commits pushed bytes with backpressure; abort and a wrong digest at commit publish nothing", async () => {
      const cs = await factory();
      const w = await cs.writer();
      for await (const c of deterministicChunks(16)) if (!w.write(c)) await new Promise((r) => w.once("drain", r));
      expect(w.size).toBe(16 * 64 * 1024);
      const info = await w.commit();
      expect(info.size).toBe(16 * 64 * 1024);
      expect(await digestStream(cs.openRead(info.digest))).toEqual(info);
      const w2 = await cs.writer();
      w2.write(Buffer.from("abandoned"));
      await w2.abort();
      const w3 = await cs.writer();
      w3.write(Buffer.from("mislabelled"));
      await expect(w3.commit({ digest: digestOf("something else") })).rejects.toThrow(/does not match/);
      expect((await walked(cs)).map((b) => b.digest)).toEqual([info.digest]);
    });

    it("writing a blob that is already stored succeeds and keeps one intact copy", async () => {
      const cs = await factory();
      const [a, b] = await Promise.all([writeBlob(cs, deterministicChunks(32)), writeBlob(cs, deterministicChunks(32))]);
      expect(a).toEqual(b);
      const again = await writeBlob(cs, deterministicChunks(32), { digest: a.digest });
      expect(again).toEqual(a);
      expect(await digestStream(cs.openRead(a.digest))).toEqual(a);
      expect((await walked(cs)).map((x) => x.digest)).toEqual([a.digest]);
    });
  });
}
