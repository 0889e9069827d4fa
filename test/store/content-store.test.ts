import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ContentStore } from "../../src/cache/content-store.js";
import { isTbuildError } from "../../src/errors.js";
import { digestOf, digestStream } from "../../src/oci/digest.js";
import { deterministicChunks } from "./fixtures/chunks.js";
import { run, tempDir } from "./helpers.js";

const viteNode = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "vite-node");

describe("content store", () => {
  it("stores, reads back and lists blobs by digest", async () => {
    const cs = new ContentStore(await tempDir());
    const info = await cs.put("hello");
    expect(info).toEqual({ digest: digestOf("hello"), size: 5 });
    expect(await readFile(cs.blobPath(info.digest), "utf8")).toBe("hello");
    expect((await cs.readBytes(info.digest)).toString()).toBe("hello");
    expect(await cs.info(info.digest)).toEqual(info);
    const listed = [];
    for await (const b of cs.list()) listed.push(b);
    expect(listed).toEqual([info]);
    await cs.delete(info.digest);
    expect(await cs.has(info.digest)).toBe(false);
  });

  it("refuses a stream whose digest differs and leaves nothing behind", async () => {
    const cs = new ContentStore(await tempDir());
    const good = digestOf("the real content");
    const err = await cs.ingest(Readable.from([Buffer.from("the real c0ntent")]), { digest: good }).catch((e: unknown) => e);
    expect(isTbuildError(err, "failed-precondition")).toBe(true);
    expect(String((err as Error).message)).toContain(`expected ${good}`);
    expect(await cs.has(good)).toBe(false);
    expect(await readdir(cs.ingestDir)).toEqual([]);
    expect(await readdir(cs.blobsDir)).toEqual([]);
  });

  it("refuses an oversized stream as soon as it overruns the expected size", async () => {
    const cs = new ContentStore(await tempDir());
    const err = await cs.ingest(deterministicChunks(), { size: 1000 }).catch((e: unknown) => e);
    expect(isTbuildError(err, "failed-precondition")).toBe(true);
    expect(await readdir(cs.ingestDir)).toEqual([]);
  });

  it("a source that fails mid-stream leaves no blob and no temp file", async () => {
    const cs = new ContentStore(await tempDir());
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.from("partial");
      throw new Error("connection reset");
    }
    await expect(cs.ingest(broken())).rejects.toThrow(/connection reset/);
    expect(await readdir(cs.ingestDir)).toEqual([]);
    expect(await readdir(cs.blobsDir)).toEqual([]);
  });

  it("a missing blob is a not-found error, not an errno", async () => {
    const cs = new ContentStore(await tempDir());
    const d = digestOf("absent");
    expect(() => cs.openRead(d)).toThrow(expect.objectContaining({ category: "not-found" }));
    expect(() => cs.blobPath("sha256:nothex")).toThrow(/not a sha256 digest/);
  });

  it("readBytes detects a blob corrupted on disk and refuses big blobs", async () => {
    const cs = new ContentStore(await tempDir());
    const info = await cs.put("original");
    await writeFile(cs.blobPath(info.digest), "tampered");
    await expect(cs.readBytes(info.digest)).rejects.toThrow(/corrupt/);
    const big = await cs.put(Buffer.alloc(100));
    await expect(cs.readBytes(big.digest, 10)).rejects.toThrow(/more than the 10 allowed/);
  });

  it("writer commits pushed bytes with backpressure and abort discards them", async () => {
    const cs = new ContentStore(await tempDir());
    const w = await cs.writer();
    for await (const c of deterministicChunks(16)) if (!w.write(c)) await new Promise((r) => w.once("drain", r));
    const info = await w.commit();
    expect(info.size).toBe(16 * 64 * 1024);
    expect(await digestStream(cs.openRead(info.digest))).toEqual(info);
    const w2 = await cs.writer();
    w2.write(Buffer.from("abandoned"));
    await w2.abort();
    expect(await readdir(cs.ingestDir)).toEqual([]);
  });

  it("three processes ingesting the same blob at once both succeed with one intact blob", async () => {
    const root = await tempDir();
    const expected = await digestStream(deterministicChunks());
    const child = join(import.meta.dirname, "fixtures", "ingest-child.ts");
    const results = await Promise.all([1, 2, 3].map(() => run(viteNode, [child, root, expected.digest])));
    for (const r of results) expect(JSON.parse(r.stdout)).toEqual(expected);
    const cs = new ContentStore(root);
    expect(await digestStream(cs.openRead(expected.digest))).toEqual(expected);
    expect(await readdir(cs.ingestDir)).toEqual([]);
  });

  it("cleanIngest removes files of dead writers only", async () => {
    const cs = new ContentStore(await tempDir());
    const live = await cs.writer();
    live.write(Buffer.from("in progress"));
    await writeFile(join(cs.ingestDir, "999999999-deadbeef"), "left by a crashed writer");
    expect(await cs.cleanIngest()).toEqual({ files: 1, bytes: 24 });
    expect((await readdir(cs.ingestDir)).length).toBe(1);
    await live.abort();
  });
});
