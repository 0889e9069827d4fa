/**
 * `layer`: committing a ~500 MB layer of mixed data. tbuild's path is
 * `snapshotter.diff(key, contentStore)` on an active snapshot whose tree holds the data
 * (tar + gzip + diffID + digest in one streaming pass), run in a child node process so
 * its peak RSS can be read; the peers are `tar -c | gzip -6` and `tar -c | pigz -6` on
 * the same tree. Runs are interleaved so drift on a noisy machine hits all three alike.
 */
import { spawnSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { openSnapshotter } from "../src/snapshotter/index.js";
import { median, report } from "./stats.js";
import { MiB, Prng, fmt, hasGnuTime, randomChunk, removeTree, repoRoot, tempDir, textChunk, timed, timedShell, writeGenerated } from "./util.js";

const RUNS = 3;

/** Writes the mixed tree into `dir`; returns its total file bytes. */
export async function generateMixedTree(dir: string, seed = 1): Promise<{ bytes: number; files: number }> {
  const rng = new Prng(seed);
  let bytes = 0;
  let files = 0;
  const text = (n: number): Buffer => textChunk(rng, n);
  // Many small files: 6000 text-like (1-32 KiB) and 2000 random (1-64 KiB), 100 per directory.
  for (let i = 0; i < 6000; i++) {
    const d = join(dir, "src", `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) await mkdir(d, { recursive: true });
    const size = 1024 + rng.int(31 * 1024);
    await writeGenerated(join(d, `f${i}.txt`), size, text);
    bytes += size;
    files++;
  }
  for (let i = 0; i < 2000; i++) {
    const d = join(dir, "assets", `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) await mkdir(d, { recursive: true });
    const size = 1024 + rng.int(63 * 1024);
    await writeGenerated(join(d, `a${i}.bin`), size, randomChunk);
    bytes += size;
    files++;
  }
  // A few large ones: two logs (text-like) and two blobs (random).
  await mkdir(join(dir, "big"), { recursive: true });
  for (const [name, size, chunk] of [
    ["app-1.log", 90 * MiB, text],
    ["app-2.log", 90 * MiB, text],
    ["data-1.bin", 80 * MiB, randomChunk],
    ["data-2.bin", 80 * MiB, randomChunk],
  ] as const) {
    await writeGenerated(join(dir, "big", name), size, chunk);
    bytes += size;
    files++;
  }
  return { bytes, files };
}

export async function benchLayer(): Promise<void> {
  const work = await tempDir("layer");
  try {
    const snapRoot = join(work, "snapshotter");
    const snapshotter = await openSnapshotter({ root: snapRoot });
    const key = "bench-layer";
    const mounts = await snapshotter.prepare(key);
    const tree = mounts[0]!.source; // a snapshot without a parent is its directory, bind-mounted
    const genStart = Date.now();
    const { bytes, files } = await generateMixedTree(tree);
    spawnSync("sync");
    const dataMB = bytes / 1e6;
    process.stdout.write(`layer: ${files} files, ${fmt(dataMB, 0)} MB generated in ${fmt((Date.now() - genStart) / 1000, 1)} s (driver ${snapshotter.driver}${hasGnuTime ? "" : ", no /usr/bin/time: RSS from the child itself"})\n`);

    const childJs = join(repoRoot, "dist-bench", "bench", "layer-child.js");
    const samples = { tbuild: [] as number[], gzip: [] as number[], pigz: [] as number[] };
    const rss = { tbuild: [] as number[], gzip: [] as number[], pigz: [] as number[] };
    const sizes = { tbuild: 0, gzip: 0, pigz: 0 };
    // One untimed pass so every contender meets the same (warm) page cache.
    await timedShell(`tar -C '${tree}' -c . | cat > /dev/null`); // not `> /dev/null`: GNU tar then skips reading files
    for (let i = 0; i < RUNS; i++) {
      const store = join(work, `store-${i}`);
      const t = await timed(process.execPath, [childJs, snapRoot, snapshotter.driver, key, store]);
      const out = JSON.parse(t.stdout.trim().split("\n").pop()!) as { size: number; maxRssKiB: number };
      samples.tbuild.push(t.ms);
      rss.tbuild.push(Number.isNaN(t.maxRssMiB) ? out.maxRssKiB / 1024 : t.maxRssMiB);
      sizes.tbuild = out.size;
      await removeTree(store);
      for (const tool of ["gzip", "pigz"] as const) {
        const r = await timedShell(`tar -C '${tree}' -c . | ${tool} -6 | wc -c`);
        samples[tool].push(r.ms);
        rss[tool].push(r.maxRssMiB);
        sizes[tool] = parseInt(r.stdout.trim(), 10);
      }
    }
    const mbps = (ms: number) => dataMB / (ms / 1000);
    const base = median(samples.tbuild);
    for (const [name, label] of [
      ["tbuild", "tbuild snapshot diff (gzip)"],
      ["gzip", "tar | gzip -6"],
      ["pigz", "tar | pigz -6"],
    ] as const) {
      const m = median(samples[name]);
      report(`layer ${label}`, {
        median_s: fmt(m / 1000),
        MB_per_s: fmt(mbps(m), 1),
        peak_rss_MiB: fmt(median(rss[name]), 0),
        out_MB: fmt(sizes[name] / 1e6, 1),
        ...(name === "tbuild" ? {} : { tbuild_time_ratio: fmt(base / m) }),
      });
    }
  } finally {
    await removeTree(work);
  }
}
