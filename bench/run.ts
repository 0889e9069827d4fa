import { existsSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./util.js";

/**
 * `npm run bench`: every benchmark, each printing medians (and peers where there is one).
 * Each is imported only when it runs, so a bench loads nothing another one needs (the
 * registry and cache benches start registries through the tests' setup).
 */
const benches: Record<string, () => Promise<void>> = {
  parser: async () => (await import("./parser.js")).benchParser(),
  layer: async () => (await import("./layer.js")).benchLayer(),
  registry: async () => (await import("./registry.js")).benchRegistry(),
  build: async () => (await import("./build.js")).benchBuild(),
  workloads: async () => (await import("./workloads.js")).benchWorkloads(),
  cache: async () => (await import("./cache.js")).benchCache(),
};

/** Parts of a benchmark above, run only when named (`npm run bench -- cache-mounts`). */
const parts: Record<string, () => Promise<void>> = { "cache-mounts": async () => (await import("./cache.js")).benchCacheMountsOnly() };

/**
 * The benches run tbuild's modules from dist-bench/, where the native helpers are looked for
 * next to them (src/native/binaries.ts); `npm run build` compiles them into dist/ only.
 */
function linkNativeHelpers(): void {
  const here = join(repoRoot, "dist-bench", "src", "native", `linux-${process.arch}`);
  if (!existsSync(here)) symlinkSync(join(repoRoot, "dist", "native", `linux-${process.arch}`), here);
}

const only = process.argv.slice(2);
try {
  linkNativeHelpers();
  for (const name of only) if (!(name in benches) && !(name in parts)) throw new Error(`unknown benchmark '${name}'; known: ${[...Object.keys(benches), ...Object.keys(parts)].join(", ")}`);
  for (const name of only) await parts[name]?.();
  for (const [name, run] of Object.entries(benches)) {
    if (only.length > 0 && !only.includes(name)) continue;
    await run();
  }
} catch (e) {
  // What went wrong and what to do, not a stack trace (the harness's own errors say both).
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
