/**
 * `cache`: what importing a build cache buys a fresh CI runner. One build (busybox,
 * a CPU-bound RUN, 200 context files, a RUN over them) three ways, interleaved: cold
 * (empty root, no cache), on a fresh root importing a registry cache another root
 * exported (docker-registry on 127.0.0.1), and importing a local OCI-layout cache. The
 * importing builds use a copy of the context at another path with other mtimes, as a
 * new checkout on another runner has. Reports medians and the share of steps that hit.
 * Then cache mounts that travel (cache-mounts.ts).
 */
import { copyFileSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRegistry } from "../test/setup/registry.js";
import { benchCacheMounts } from "./cache-mounts.js";
import { median, report } from "./stats.js";
import { cliJs, removeTree, tempDir, timedShell } from "./util.js";

const RUNS = 3;
const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN i=0; while [ $i -lt 40 ]; do head -c 1048576 /dev/zero | sha256sum > /dev/null; i=$((i+1)); done; echo done > /cpu
COPY src/ /src/
RUN cat /src/* | sha256sum > /sum && tar -cf /src.tar /src
`;

function makeContext(dir: string, mtime: number): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  copyFileSync("/bin/busybox", join(dir, "busybox"));
  writeFileSync(join(dir, "Dockerfile"), DOCKERFILE);
  for (let i = 0; i < 200; i++) {
    const file = join(dir, "src", `file-${i}.txt`);
    writeFileSync(file, `line ${i}\n`.repeat(200));
    utimesSync(file, mtime, mtime);
  }
}

/** Runs tbuild build with plain progress; returns the time and how many steps hit of how many ran or hit. */
async function build(args: string[], log: string): Promise<{ ms: number; hits: number; steps: number }> {
  const quoted = args.map((a) => `'${a}'`).join(" ");
  const r = await timedShell(`'${process.execPath}' '${cliJs}' build --progress plain ${quoted} 2> '${log}' > /dev/null`);
  const text = readFileSync(log, "utf8");
  const hits = (text.match(/^#\d+ CACHED$/gm) ?? []).length;
  const steps = hits + (text.match(/^#\d+ DONE /gm) ?? []).length;
  return { ms: r.ms, hits, steps };
}

export async function benchCache(): Promise<void> {
  const work = await tempDir("cache");
  const registry = await startRegistry();
  try {
    const exporter = join(work, "exporter-ctx");
    makeContext(exporter, 1_000_000);
    const localCache = join(work, "local-cache");
    const ref = `${registry.host}/bench/cache:buildcache`;
    // Another runner builds once and exports both caches.
    await build(["--root", join(work, "exporter-root"), "--cache-to", `type=registry,ref=${ref},mode=max`, "--cache-to", `type=local,dest=${localCache},mode=max`, exporter], join(work, "export.log"));
    process.stdout.write(`cache: 5 steps (busybox, a CPU-bound RUN, 200 files, a RUN over them); fresh roots, a checkout at another path with other mtimes\n`);
    const samples: Record<string, { ms: number[]; hit: number[] }> = {};
    for (let i = 0; i < RUNS; i++) {
      const ctx = join(work, `ctx-${i}`);
      makeContext(ctx, 2_000_000 + i);
      const cases: [string, string[]][] = [
        ["cold build", []],
        ["registry cache import", ["--cache-from", ref]],
        ["local cache import", ["--cache-from", `type=local,src=${localCache}`]],
      ];
      for (const [name, extra] of cases) {
        const root = join(work, `root-${i}-${name.replace(/ /g, "-")}`);
        const r = await build(["--root", root, ...extra, ctx], join(work, "run.log"));
        const s = (samples[name] ??= { ms: [], hit: [] });
        s.ms.push(r.ms);
        s.hit.push(r.steps === 0 ? 0 : (100 * r.hits) / r.steps);
        await removeTree(root);
      }
    }
    const cold = median(samples["cold build"]!.ms);
    for (const [name, s] of Object.entries(samples)) {
      report(`cache ${name}`, { median_s: median(s.ms) / 1000, step_hits_pct: median(s.hit), vs_cold: median(s.ms) / cold });
    }
    await benchCacheMounts(work, registry);
  } finally {
    await registry.stop();
    await removeTree(work);
  }
}

/** `npm run bench -- cache-mounts`: the cache mount half alone. */
export async function benchCacheMountsOnly(): Promise<void> {
  const work = await tempDir("cache-mounts");
  const registry = await startRegistry();
  try {
    await benchCacheMounts(work, registry);
  } finally {
    await registry.stop();
    await removeTree(work);
  }
}
