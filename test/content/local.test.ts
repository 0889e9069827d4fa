// The local content store: the shared conformance suite, then what is particular to blobs
// kept in a directory (the on-disk layout, corruption on disk, crashed and concurrent writers).
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readBlob, writeBlob } from "../../src/content/blob-io.js";
import { LocalContentStore } from "../../src/content/local.js";
import { digestOf, digestStream } from "../../src/oci/digest.js";
import { deterministicChunks } from "../store/fixtures/chunks.js";
import { run, tempDir } from "../store/helpers.js";
import { contentStoreConformance } from "./conformance.js";

const viteNode = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "vite-node");

contentStoreConformance("local", async () => new LocalContentStore(await tempDir()));

describe("local content store", () => {
  it("keeps a committed blob at blobs/sha256/<hex>, an OCI layout", async () => {
    const cs = new LocalContentStore(await tempDir());
    const info = await writeBlob(cs, "hello");
    expect(await readFile(join(cs.root, "blobs", "sha256", info.digest.slice(7)), "utf8")).toBe("hello");
    expect(() => cs.blobPath("sha256:nothex")).toThrow(/not a sha256 digest/);
  });

  it("failed writes (wrong digest, oversized, broken source, abort) leave no temp file behind", async () => {
    const cs = new LocalContentStore(await tempDir());
    await writeBlob(cs, Readable.from([Buffer.from("the real c0ntent")]), { digest: digestOf("the real content") }).catch(() => undefined);
    await writeBlob(cs, deterministicChunks(), { size: 1000 }).catch(() => undefined);
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.from("partial");
      throw new Error("connection reset");
    }
    await writeBlob(cs, broken()).catch(() => undefined);
    const w = await cs.writer();
    w.write(Buffer.from("abandoned"));
    await w.abort();
    expect(await readdir(cs.ingestDir)).toEqual([]);
    expect(await readdir(cs.blobsDir)).toEqual([]);
  });

  it("readBlob detects a blob corrupted on disk", async () => {
    const cs = new LocalContentStore(await tempDir());
    const info = await writeBlob(cs, "original");
    await writeFile(cs.blobPath(info.digest), "tampered");
    await expect(readBlob(cs, info.digest)).rejects.toThrow(/corrupt/);
  });

  it("three processes ingesting the same blob at once both succeed with one intact blob", async () => {
    const root = await tempDir();
    const expected = await digestStream(deterministicChunks());
    const child = join(import.meta.dirname, "..", "store", "fixtures", "ingest-child.ts");
    const results = await Promise.all([1, 2, 3].map(() => run(viteNode, [child, root, expected.digest])));
    for (const r of results) expect(JSON.parse(r.stdout)).toEqual(expected);
    const cs = new LocalContentStore(root);
    expect(await digestStream(cs.openRead(expected.digest))).toEqual(expected);
    expect(await readdir(cs.ingestDir)).toEqual([]);
  });

  it("cleanIngest removes files of dead writers only", async () => {
    const cs = new LocalContentStore(await tempDir());
    const live = await cs.writer();
    live.write(Buffer.from("in progress"));
    await writeFile(join(cs.ingestDir, "999999999-deadbeef"), "left by a crashed writer");
    expect(await cs.cleanIngest()).toEqual({ files: 1, bytes: 24 });
    expect((await readdir(cs.ingestDir)).length).toBe(1);
    await live.abort();
  });
});
