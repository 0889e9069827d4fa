/**
 * `cache` (second half): what a cache mount that travels (`cache-mounts=true`) buys a
 * fresh CI runner. An npm project (express, eslint, typescript, lodash, zod: 166
 * packages; lock files in bench/fixtures/npm-app) on a small base of busybox plus this
 * host's node and npm. Another root builds it once and exports two registry caches:
 * step records only, and step records plus cache mounts. Then, on fresh roots with a
 * copy of the context at another path with other mtimes:
 *  - the unchanged build importing the cache: the share of steps that hit (want 100%);
 *  - package-lock.json changed (one package added), so `RUN --mount=type=cache,
 *    target=/root/.npm npm ci` runs again: with the records-only cache (npm downloads
 *    everything) and with the cache mounts imported (npm finds its cache seeded).
 * npm reaches its registry from RUN (the network here allows it); times include that.
 * `npm run bench -- cache-mounts` runs this half alone.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RegistryServer } from "../test/setup/registry.js";
import { median, report } from "./stats.js";
import { cliJs, removeTree, repoRoot, timedShell } from "./util.js";

const RUNS = 3;
const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY node-root/ /
ENV HOME=/root NPM_CONFIG_CAFILE=/etc/ssl/certs/ca-certificates.crt NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false
RUN ln -sf /bin/busybox /usr/bin/env && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/bin/npm && mkdir -p /root /tmp && chmod 1777 /tmp
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
`;

/** The host's node (its shared libraries and CA bundle too) and npm, as a tree to COPY onto busybox. */
function makeNodeRoot(dir: string): void {
  const libs = execFileSync("ldd", [process.execPath], { encoding: "utf8" })
    .split("\n")
    .flatMap((l) => /(\/\S+) \(0x/.exec(l)?.slice(1) ?? []);
  for (const lib of libs) {
    mkdirSync(join(dir, lib, ".."), { recursive: true });
    copyFileSync(lib, join(dir, lib));
  }
  mkdirSync(join(dir, "usr/bin"), { recursive: true });
  copyFileSync(process.execPath, join(dir, "usr/bin/node"));
  cpSync("/usr/lib/node_modules/npm", join(dir, "usr/lib/node_modules/npm"), { recursive: true, dereference: true });
  mkdirSync(join(dir, "etc/ssl/certs"), { recursive: true });
  copyFileSync("/etc/ssl/certs/ca-certificates.crt", join(dir, "etc/ssl/certs/ca-certificates.crt"));
}

/** A checkout of the npm app (lock `variant`), every file's times set to `mtime`. */
function makeContext(dir: string, nodeRoot: string, variant: "v1" | "v2", mtime: number): void {
  mkdirSync(dir, { recursive: true });
  cpSync(nodeRoot, join(dir, "node-root"), { recursive: true });
  copyFileSync("/bin/busybox", join(dir, "busybox"));
  copyFileSync(join(repoRoot, "bench/fixtures/npm-app", variant, "package.json"), join(dir, "package.json"));
  writeFileSync(join(dir, "package-lock.json"), withResolved(readFileSync(join(repoRoot, "bench/fixtures/npm-app", variant, "package-lock.json"), "utf8")));
  writeFileSync(join(dir, "Dockerfile"), DOCKERFILE);
  execFileSync("find", [dir, "-exec", "touch", "-h", "-d", `@${mtime}`, "{}", "+"]);
}

/**
 * The lock file as npm writes it by default, with each package's `resolved` address
 * (the fixtures leave addresses out, so they name no registry host). Without them
 * `npm ci` asks the registry for every package's metadata even with a full cache
 * (measured on this host: 22.4 s warm vs 21.5 s cold), so a cache saves little; with
 * them it takes each tarball from the cache by its integrity hash.
 */
function withResolved(lock: string): string {
  const registry = execFileSync("npm", ["config", "get", "registry"], { encoding: "utf8" }).trim().replace(/\/$/, "");
  const parsed = JSON.parse(lock) as { packages: Record<string, { version?: string; integrity?: string; resolved?: string }> };
  for (const [where, pkg] of Object.entries(parsed.packages)) {
    if (where === "" || pkg.version === undefined || pkg.integrity === undefined || pkg.resolved !== undefined) continue;
    const name = where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length);
    pkg.resolved = `${registry}/${name}/-/${name.split("/").pop()}-${pkg.version}.tgz`;
  }
  return `${JSON.stringify(parsed, null, 2)}\n`;
}

/** Runs tbuild build; returns the time, the steps that hit of all, and how long the `npm ci` step took when it ran (0 when it hit). */
async function build(args: string[], log: string): Promise<{ ms: number; hits: number; steps: number; npmCiMs: number }> {
  const quoted = args.map((a) => `'${a}'`).join(" ");
  const r = await timedShell(`'${process.execPath}' '${cliJs}' build --progress plain ${quoted} 2> '${log}' > /dev/null`);
  const text = readFileSync(log, "utf8");
  const hits = (text.match(/^#\d+ CACHED$/gm) ?? []).length;
  const steps = hits + (text.match(/^#\d+ DONE /gm) ?? []).length;
  const id = /^#(\d+) \[.*\] RUN .*npm ci$/m.exec(text)?.[1];
  const done = id === undefined ? undefined : new RegExp(`^#${id} DONE ([\\d.]+)s$`, "m").exec(text)?.[1];
  return { ms: r.ms, hits, steps, npmCiMs: done === undefined ? 0 : Number(done) * 1000 };
}

export async function benchCacheMounts(work: string, registry: RegistryServer): Promise<void> {
  const nodeRoot = join(work, "node-root");
  makeNodeRoot(nodeRoot);
  const exporterCtx = join(work, "npm-exporter-ctx");
  makeContext(exporterCtx, nodeRoot, "v1", 1_000_000);
  const records = `${registry.host}/bench/npm:records`;
  const mounts = `${registry.host}/bench/npm:mounts`;
  const exportRoot = join(work, "npm-exporter-root");
  await build(["--root", exportRoot, "--cache-to", `type=registry,ref=${records},mode=max`, "--cache-to", `type=registry,ref=${mounts},mode=max,cache-mounts=true`, exporterCtx], join(work, "npm-export.log"));
  await removeTree(exportRoot);
  process.stdout.write(`cache mounts: npm ci of 166 packages on busybox + host node; fresh roots, a checkout at another path with other mtimes\n`);
  const samples: Record<string, { ms: number[]; hit: number[]; npmCi: number[] }> = {};
  for (let i = 0; i < RUNS; i++) {
    const unchanged = join(work, `npm-ctx-v1-${i}`);
    const changed = join(work, `npm-ctx-v2-${i}`);
    makeContext(unchanged, nodeRoot, "v1", 2_000_000 + i);
    makeContext(changed, nodeRoot, "v2", 3_000_000 + i);
    const cases: [string, string[]][] = [
      ["npm unchanged, registry cache import", ["--cache-from", mounts, unchanged]],
      ["npm lock changed, records-only cache", ["--cache-from", records, changed]],
      ["npm lock changed, cache mounts imported", ["--cache-from", mounts, changed]],
    ];
    for (const [name, args] of cases) {
      const root = join(work, `npm-root-${i}`);
      const r = await build(["--root", root, ...args], join(work, "npm-run.log"));
      const s = (samples[name] ??= { ms: [], hit: [], npmCi: [] });
      s.ms.push(r.ms);
      s.npmCi.push(r.npmCiMs);
      s.hit.push(r.steps === 0 ? 0 : (100 * r.hits) / r.steps);
      await removeTree(root);
    }
    await removeTree(unchanged);
    await removeTree(changed);
  }
  const without = median(samples["npm lock changed, records-only cache"]!.ms);
  for (const [name, s] of Object.entries(samples)) {
    report(`cache ${name}`, { median_s: median(s.ms) / 1000, npm_ci_step_s: median(s.npmCi) / 1000, step_hits_pct: median(s.hit), vs_records_only: median(s.ms) / without });
  }
}
