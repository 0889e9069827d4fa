/**
 * `registry`: push and pull of a 5-layer ~600 MB image against the reference registry
 * (`docker-registry serve` on 127.0.0.1, plain HTTP), tbuild's CLI next to skopeo on the
 * same image and the same kind of registry. Every "cold" sample gets a registry with a
 * fresh storage directory of its own (so nothing can be skipped or mounted); "warm"
 * pushes the same image again to the same repository (every blob present).
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { pipeline } from "node:stream/promises";
import type { Writable } from "node:stream";
import { storeLayer } from "../src/snapshotter/index.js";
import { openStore } from "../src/store/index.js";
import { startRegistry } from "../test/setup/registry.js";
import { median, report } from "./stats.js";
import { MiB, cliJs, fmt, generated, randomChunk, removeTree, tempDir, timed, type RunResult } from "./util.js";

const RUNS = 3;
const LAYERS = 5;
const LAYER_BYTES = 120 * MiB;
const NAME = "bench/big:latest";

/** One layer: a tar holding one file of `size` random bytes, streamed (never in memory). */
function layerTar(index: number, size: number): Readable {
  const pack = tar.pack();
  const sink = pack.entry({ name: `layer-${index}/data.bin`, size, mode: 0o644, mtime: new Date(0) }, (e) => {
    if (e) pack.destroy(e);
    else pack.finalize();
  });
  pipeline(generated(size, randomChunk), sink as unknown as Writable).catch((e: unknown) => pack.destroy(e as Error));
  return pack as unknown as Readable;
}

/** Writes the 5-layer image into a tbuild store at `root`; returns the compressed total. */
async function makeImage(root: string): Promise<number> {
  const store = await openStore(root);
  const layers = [];
  for (let i = 0; i < LAYERS; i++) layers.push(await storeLayer(layerTar(i, LAYER_BYTES), store.content, "gzip"));
  await store.putImage({
    name: NAME,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    config: {
      architecture: "amd64",
      os: "linux",
      created: "1970-01-01T00:00:00Z",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffID) },
      config: { Cmd: ["/bin/sh"] },
    },
  });
  return layers.reduce((n, l) => n + l.size, 0);
}

const tbuild = (args: string[]): Promise<RunResult> => timed(process.execPath, [cliJs, ...args]);
const skopeo = (args: string[]): Promise<RunResult> => timed("skopeo", ["copy", "-q", ...args]);

export async function benchRegistry(): Promise<void> {
  const work = await tempDir("registry");
  try {
    const src = join(work, "src-store");
    const total = await makeImage(src);
    const totalMB = total / 1e6;
    process.stdout.write(`registry: ${LAYERS} layers, ${fmt(totalMB, 0)} MB compressed, docker-registry on 127.0.0.1 (plain HTTP)\n`);
    const s: Record<string, number[]> = {};
    const rss: Record<string, number[]> = {};
    const add = (k: string, r: RunResult): void => {
      (s[k] ??= []).push(r.ms);
      (rss[k] ??= []).push(r.maxRssMiB);
    };
    for (let i = 0; i < RUNS; i++) {
      // What every tbuild sample pays before any work: node plus module loading.
      add("tbuild CLI startup (images)", await tbuild(["images", "--root", src]));
      // tbuild: push cold, push again, then pull into an empty store; skopeo's pull as the peer.
      const reg = await startRegistry();
      try {
        const ref = `${reg.host}/bench/tb:latest`;
        // The store remembers which repositories hold its blobs (to mount them); a fresh registry may reuse an old port.
        await rm(join(src, "registry-sources.json"), { force: true });
        add("tbuild push cold", await tbuild(["push", "-q", "--root", src, NAME, ref]));
        add("tbuild push warm", await tbuild(["push", "-q", "--root", src, NAME, ref]));
        const pulled = join(work, `pull-${i}`);
        add("tbuild pull", await tbuild(["pull", "-q", "--root", pulled, ref]));
        await removeTree(pulled);
        const layout = join(work, `skopeo-pull-${i}`);
        add("skopeo pull (to oci:)", await skopeo(["--src-tls-verify=false", `docker://${ref}`, `oci:${layout}:x`]));
        await removeTree(layout);
      } finally {
        await reg.stop();
      }
      // skopeo: a registry of its own, so its cold copy finds nothing to skip or mount.
      const reg2 = await startRegistry();
      try {
        const dest = `docker://${reg2.host}/bench/sk-${randomBytes(3).toString("hex")}:latest`;
        const source = `oci:${src}:docker.io/${NAME}`;
        add("skopeo push cold", await skopeo(["--dest-tls-verify=false", source, dest]));
        add("skopeo push warm", await skopeo(["--dest-tls-verify=false", source, dest]));
      } finally {
        await reg2.stop();
      }
    }
    const peers: Record<string, string> = { "tbuild push cold": "skopeo push cold", "tbuild push warm": "skopeo push warm", "tbuild pull": "skopeo pull (to oci:)" };
    for (const k of ["tbuild push cold", "skopeo push cold", "tbuild push warm", "skopeo push warm", "tbuild pull", "skopeo pull (to oci:)", "tbuild CLI startup (images)"]) {
      const m = median(s[k]!);
      const peer = peers[k];
      report(`registry ${k}`, {
        median_s: fmt(m / 1000),
        ...(k.includes("startup") ? {} : { MB_per_s: fmt(totalMB / (m / 1000), 1) }),
        peak_rss_MiB: fmt(median(rss[k]!), 0),
        ...(peer === undefined ? {} : { tbuild_time_ratio: fmt(m / median(s[peer]!)) }),
      });
    }
  } finally {
    await removeTree(work);
  }
}
