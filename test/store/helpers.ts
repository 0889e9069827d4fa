import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import tar from "tar-stream";
import { Digester } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import type { Descriptor } from "../../src/oci/schemas.js";
import type { ImageStore } from "../../src/store/image-store.js";

export const run = promisify(execFile);

export function tempDir(prefix = "tbuild-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A gzip layer of `files` streamed into the store, with its diffID computed on the way. */
export async function makeLayer(store: ImageStore, files: Record<string, string>): Promise<{ desc: Descriptor; diffId: string }> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files).sort()) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
  pack.finalize();
  const diff = new Digester();
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      diff.update(chunk);
      cb(null, chunk);
    },
  });
  const w = await store.content.writer();
  await pipeline(pack, tap, createGzip(), w);
  const info = await w.commit();
  return { desc: { mediaType: MediaType.ociLayerGzip, digest: info.digest, size: info.size }, diffId: diff.digest() };
}

/** A one- or two-layer linux/amd64 image, tagged `name`. */
export async function makeImage(
  store: ImageStore,
  name: string | undefined,
  layers: Record<string, string>[],
  o: { created?: string; labels?: Record<string, string> } = {},
): Promise<Descriptor> {
  const made = [];
  for (const files of layers) made.push(await makeLayer(store, files));
  return store.putImage({
    name,
    layers: made.map((l) => l.desc),
    config: {
      architecture: "amd64",
      os: "linux",
      created: o.created ?? "2024-01-02T03:04:05Z",
      config: { Env: ["PATH=/bin"], Cmd: ["/bin/sh"], WorkingDir: "/", ...(o.labels === undefined ? {} : { Labels: o.labels }) },
      rootfs: { type: "layers", diff_ids: made.map((l) => l.diffId) },
      history: made.map(() => ({ created_by: "test" })),
    },
  });
}

export async function skopeoInspect(target: string): Promise<{ Digest: string; Layers: string[]; Architecture: string; Env?: string[] }> {
  const { stdout } = await run("skopeo", ["inspect", target]);
  return JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string };
}

// The compiled CLI (npm test builds first): compiling the sources again in every child
// took seconds per call on a busy machine.
const cli = join(import.meta.dirname, "..", "..", "dist", "cli", "main.js");

/** Runs the real CLI and returns its exit code and output. */
export async function tbuild(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}
