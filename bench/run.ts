import { benchBuild } from "./build.js";
import { benchCache, benchCacheMountsOnly } from "./cache.js";
import { benchLayer } from "./layer.js";
import { benchParser } from "./parser.js";
import { benchRegistry } from "./registry.js";
import { benchWorkloads } from "./workloads.js";

/** `npm run bench`: every benchmark, each printing medians (and peers where there is one). */
const benches: Record<string, () => Promise<void>> = { parser: benchParser, layer: benchLayer, registry: benchRegistry, build: benchBuild, workloads: benchWorkloads, cache: benchCache };

/** Parts of a benchmark above, run only when named (`npm run bench -- cache-mounts`). */
const parts: Record<string, () => Promise<void>> = { "cache-mounts": benchCacheMountsOnly };

const only = process.argv.slice(2);
try {
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
