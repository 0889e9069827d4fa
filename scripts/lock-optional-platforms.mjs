// Adds lockfile entries for optional platform packages (rollup's @rollup/rollup-<os>-<cpu>)
// that this environment's npm registry does not serve. `npm install` leaves them out
// of package-lock.json when it cannot fetch their metadata, and `npm ci` then refuses
// the lock as out of sync. The entries are only ever skipped (wrong platform), never
// fetched. Run after `npm install` changes the lock: `node scripts/lock-optional-platforms.mjs`.
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const packages = lock.packages;
let added = 0;
for (const meta of Object.values({ ...packages })) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (packages[key] !== undefined) continue;
    packages[key] = { version, optional: true, ...(meta.dev ? { dev: true } : {}) };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
console.log(`added ${added} optional platform entries`);
