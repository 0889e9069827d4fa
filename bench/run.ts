import { benchBuild } from "./build.js";
import { benchCache } from "./cache.js";
import { benchLayer } from "./layer.js";
import { benchParser } from "./parser.js";
import { benchRegistry } from "./registry.js";
import { benchWorkloads } from "./workloads.js";

/** `npm run bench`: every benchmark, each printing medians (and peers where there is one). */
const benches: Record<string, () => Promise<void>> = { parser: benchParser, layer: benchLayer, registry: benchRegistry, build: benchBuild, workloads: benchWorkloads, cache: benchCache };

const only = process.argv.slice(2);
for (const name of only) if (!(name in benches)) throw new Error(`unknown benchmark '${name}'; known: ${Object.keys(benches).join(", ")}`);
for (const [name, run] of Object.entries(benches)) {
  if (only.length > 0 && !only.includes(name)) continue;
  await run();
}
