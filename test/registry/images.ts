/**
 * Test images written as OCI image layouts on disk: random-content gzip layers, a
 * config, a manifest per platform and, for several platforms, an index. The same
 * writer fills a tbuild store root (itself an OCI layout) or a directory for skopeo.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { MediaType } from "../../src/oci/media-types.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

async function tarOf(files: Record<string, Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function putBlob(layout: string, bytes: Buffer): Promise<string> {
  const digest = sha(bytes);
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layout, "blobs", "sha256", digest.slice(7)), bytes);
  return digest;
}

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

/** Writes one image (per platform) and returns the descriptor of its manifest or index. */
export async function writeImage(layout: string, o: { platforms?: PlatformSpec[]; layerSizes?: number[] } = {}): Promise<Desc> {
  const platforms = o.platforms ?? [{ os: "linux", architecture: "amd64" }];
  const manifests: Desc[] = [];
  for (const p of platforms) {
    const layers: Desc[] = [];
    const diffIds: string[] = [];
    for (const [i, size] of (o.layerSizes ?? [1024, 64 * 1024]).entries()) {
      const t = await tarOf({ [`layer${i}.bin`]: randomBytes(size) });
      diffIds.push(sha(t));
      const gz = gzipSync(t);
      layers.push({ mediaType: MediaType.ociLayerGzip, digest: await putBlob(layout, gz), size: gz.length });
    }
    const config = Buffer.from(JSON.stringify({ architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}), config: { Cmd: ["/bin/sh"] }, rootfs: { type: "layers", diff_ids: diffIds } }));
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: await putBlob(layout, config), size: config.length }, layers }),
    );
    manifests.push({ mediaType: MediaType.ociManifest, digest: await putBlob(layout, manifest), size: manifest.length, platform: p });
  }
  if (manifests.length === 1) {
    const { platform: _p, ...only } = manifests[0]!;
    return only;
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  return { mediaType: MediaType.ociIndex, digest: await putBlob(layout, index), size: index.length };
}

/** Adds `desc` to the layout's index.json under `refName`, creating the layout files as needed. */
export async function addToIndex(layout: string, desc: Desc, refName: string): Promise<void> {
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  let index: { schemaVersion: 2; mediaType: string; manifests: Desc[] } = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  try {
    index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as typeof index;
  } catch {
    // A fresh layout.
  }
  index.manifests = index.manifests.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] !== refName);
  index.manifests.push({ ...desc, annotations: { "org.opencontainers.image.ref.name": refName } });
  await writeFile(join(layout, "index.json"), JSON.stringify(index));
}
