import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import type { BlobInfo, ContentReader } from "../content/content.js";
import { TbuildError, errnoCode, ioError } from "../errors.js";
import { Annotation } from "../oci/media-types.js";
import { parseJson } from "../oci/parse-json.js";
import { parseReference, normalizeName } from "../oci/reference.js";
import { dockerArchiveManifestSchema, imageConfigSchema, indexSchema, type Descriptor } from "../oci/schemas.js";
import { imageBlobs } from "./blobs.js";
import type { ImageStore } from "./image-store.js";
import { compressionOf, layerMediaType } from "../snapshotter/compression.js";
import { Lease } from "./lease.js";
import { readBlob, writeBlob } from "../content/blob-io.js";

export interface LoadedImage {
  name: string | undefined;
  descriptor: Descriptor;
}

/** Small files (manifest.json, configs, legacy metadata) are kept in memory; the rest streams. */
const SMALL = 4 * 1024 * 1024;
const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;

interface StreamedFile {
  info: BlobInfo;
  head: Buffer;
}

/**
 * Loads an OCI archive or a `docker save` tar (optionally gzipped) into the store and
 * tags what it names. Blobs under blobs/sha256/ are verified against their file names;
 * legacy `<id>/layer.tar` layers are stored as they are, so every digest, and the
 * config digest (the image ID), stays the same.
 */
export async function loadArchive(store: ImageStore, file: string): Promise<LoadedImage[]> {
  // Blobs written (or found and touched) during the load are the lease's until the images are tagged.
  const lease = await Lease.open(store.root, "load");
  try {
    return await loadLeased(store, file);
  } finally {
    await lease.release();
  }
}

async function loadLeased(store: ImageStore, file: string): Promise<LoadedImage[]> {
  const small = new Map<string, Buffer>();
  const streamed = new Map<string, StreamedFile>();
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    const name = header.name.replace(/^(\.\/)+/, "");
    // tar-stream's entry streams are typed as yielding unknown; they yield Buffers.
    handleEntry(store, name, header.type ?? "file", header.size ?? 0, stream as unknown as EntryStream, small, streamed).then(() => next(), (e: unknown) => next(e as Error));
  });
  try {
    await pipeline(await openMaybeGzip(file), extract);
  } catch (e) {
    if (e instanceof TbuildError) throw new TbuildError(e.category, `${file}: ${e.message}`, { hint: e.hint, cause: e });
    throw new TbuildError("invalid-argument", `${file} is not a readable tar archive (${e instanceof Error ? e.message : String(e)})`, {
      cause: e,
      hint: "tbuild load reads files made by 'tbuild save', 'docker save' or 'skopeo copy ... oci-archive:FILE'",
    });
  }
  const index = small.get("index.json");
  if (index !== undefined) return loadOci(store, file, index);
  const manifest = small.get("manifest.json");
  if (manifest !== undefined) return loadDocker(store, file, manifest, small, streamed);
  throw new TbuildError("invalid-argument", `${file} has neither index.json (OCI archive) nor manifest.json (docker save archive)`, {
    hint: "tbuild load reads files made by 'tbuild save', 'docker save' or 'skopeo copy ... oci-archive:FILE'",
  });
}

type EntryStream = AsyncIterable<Buffer> & { resume(): unknown };

async function handleEntry(store: ImageStore, name: string, type: string, size: number, stream: EntryStream, small: Map<string, Buffer>, streamed: Map<string, StreamedFile>): Promise<void> {
  const blob = BLOB_PATH.exec(name);
  if (type !== "file") {
    stream.resume();
  } else if (blob !== null) {
    await writeBlob(store.content, stream, { digest: `sha256:${blob[1]}`, size });
  } else if (size <= SMALL) {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    small.set(name, Buffer.concat(chunks));
  } else {
    let head = Buffer.alloc(0);
    async function* tap(): AsyncGenerator<Buffer> {
      for await (const c of stream) {
        if (head.length < 4) head = Buffer.concat([head, c.subarray(0, 4 - head.length)]);
        yield c;
      }
    }
    const info = await writeBlob(store.content, tap());
    streamed.set(name, { info, head });
  }
}

async function loadOci(store: ImageStore, file: string, indexBytes: Buffer): Promise<LoadedImage[]> {
  const index = parseJson(indexSchema, indexBytes, `index.json in ${file}`);
  const out: LoadedImage[] = [];
  for (const d of index.manifests) {
    await imageBlobs(store, d).catch((e: unknown) => {
      throw e instanceof TbuildError ? new TbuildError("invalid-argument", `${file} is incomplete: ${e.message}`, { hint: "save the image again", cause: e }) : e;
    });
    const { annotations: _a, ...desc } = d;
    const name = archiveName(d);
    if (name !== undefined) await store.tag(desc, name);
    else await store.updateIndex((i) => void (i.manifests.some((m) => m.digest === desc.digest) || i.manifests.push(desc)));
    out.push({ name: name === undefined ? undefined : normalizeName(name), descriptor: desc });
  }
  return out;
}

/**
 * The name an archive gives a manifest: containerd's full name if present, else a ref
 * name that is a full reference. A bare tag ("latest", as BuildKit writes) names nothing.
 */
function archiveName(d: Descriptor): string | undefined {
  const full = d.annotations?.[Annotation.containerdImageName];
  if (full !== undefined) return full;
  const ref = d.annotations?.[Annotation.refName];
  if (ref === undefined || !/[/:]/.test(ref)) return undefined;
  try {
    parseReference(ref);
    return ref;
  } catch {
    return undefined;
  }
}

async function loadDocker(store: ImageStore, file: string, manifestBytes: Buffer, small: Map<string, Buffer>, streamed: Map<string, StreamedFile>): Promise<LoadedImage[]> {
  const entries = parseJson(dockerArchiveManifestSchema, manifestBytes, `manifest.json in ${file}`);
  const out: LoadedImage[] = [];
  for (const entry of entries) {
    const configBytes = small.get(entry.Config) ?? (await blobBytes(store, entry.Config));
    if (configBytes === undefined) throw missing(file, entry.Config);
    const config = parseJson(imageConfigSchema, configBytes, `${entry.Config} in ${file}`);
    if (config.rootfs.diff_ids.length !== entry.Layers.length) {
      throw new TbuildError("invalid-argument", `${file}: ${entry.Config} lists ${config.rootfs.diff_ids.length} layers but manifest.json has ${entry.Layers.length}`);
    }
    const layers: Descriptor[] = [];
    for (const path of entry.Layers) layers.push(await layerDescriptor(store, file, path, small, streamed));
    const names = (entry.RepoTags ?? []).map(normalizeName);
    const descriptor = await store.putImage({ config: configBytes, layers, name: names });
    if (names.length === 0) out.push({ name: undefined, descriptor });
    for (const name of names) out.push({ name, descriptor });
  }
  return out;
}

async function layerDescriptor(store: ImageStore, file: string, path: string, small: Map<string, Buffer>, streamed: Map<string, StreamedFile>): Promise<Descriptor> {
  const blob = BLOB_PATH.exec(path);
  let info: BlobInfo | undefined;
  let head: Buffer | undefined;
  if (blob !== null) {
    info = await store.content.info(`sha256:${blob[1]}`);
    if (info !== undefined) head = await blobHead(store.content, info.digest);
  } else if (streamed.has(path)) {
    ({ info, head } = streamed.get(path)!);
  } else {
    const bytes = small.get(path);
    if (bytes !== undefined) {
      info = await writeBlob(store.content, bytes);
      head = bytes.subarray(0, 4);
    }
  }
  if (info === undefined || head === undefined) throw missing(file, path);
  // Docker archives do not record layer media types; the magic number tells.
  return { mediaType: layerMediaType(compressionOf(head)), digest: info.digest, size: info.size };
}

async function blobBytes(store: ImageStore, path: string): Promise<Buffer | undefined> {
  const blob = BLOB_PATH.exec(path);
  if (blob === null) return undefined;
  return readBlob(store.content, `sha256:${blob[1]}`);
}

async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function blobHead(content: ContentReader, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content.openRead(digest, { start: 0, end: 3 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function missing(file: string, path: string): TbuildError {
  return new TbuildError("invalid-argument", `${file}: manifest.json refers to ${path}, which is not in the archive`, {
    hint: "the archive is incomplete or damaged; save it again",
  });
}

/** `docker save | gzip` files are common; gunzip them transparently. */
async function openMaybeGzip(file: string): Promise<Readable> {
  let head: Buffer;
  try {
    head = await readHead(file);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") throw new TbuildError("not-found", `${file} does not exist`, { hint: "check the path given to -i" });
    throw ioError(e, `reading ${file}`);
  }
  const raw = createReadStream(file);
  if (compressionOf(head) !== "gzip") return raw;
  const gunzip = createGunzip();
  raw.on("error", (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}
