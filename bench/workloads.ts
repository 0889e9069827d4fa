/**
 * `workloads`: the project's reference workloads (`../shared/bench/`: w1-multistage,
 * w2-biglayer, w3-manysteps) built by tbuild next to BuildKit (buildctl against a running
 * buildkitd, the reference) and buildah, each cold, as a no-change rebuild ("noop") and
 * after one context file changed ("touch"). Runs of the tools are interleaved, so noise on
 * this shared machine hits all of them alike; medians are reported with tbuild's ratio to
 * each peer and tbuild's peak RSS. A peer that is absent or cannot build here is skipped
 * with the reason printed.
 *
 * Knobs (environment): BENCH_WORKLOADS_DIR (default ../shared/bench beside the repository),
 * BENCH_WORKLOADS=w1,w3 (a subset), BENCH_PHASES=cold,noop,touch, BENCH_RUNS (default 3),
 * BENCH_PEERS=buildkit,buildah (default both; "none" for tbuild alone), BUILDKIT_HOST
 * (default unix:///run/buildkit/buildkitd.sock), and BENCH_TBUILD_BASELINE=DIR: another
 * checkout whose dist/ is measured in the same run as "tbuild-base", for before/after.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, chmod, copyFile, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { buildahProblem } from "./build.js";
import { median } from "./stats.js";
import { cliJs, fmt, removeTree, repoRoot, tempDir, timed, type RunResult } from "./util.js";

const BASE_IMAGE = "127.0.0.1:5000/busybox:1.35";
const REGISTRY_ADDR = "127.0.0.1:5000";
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => spawnSync(p, ["true"]).status === 0);
const PHASES = ["cold", "noop", "touch"] as const;
type Phase = (typeof PHASES)[number];

function listEnv(name: string): string[] | undefined {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v.split(",").map((s) => s.trim());
}

/** One builder under test: how to build a context, and how to empty its cache for a cold run. */
interface Tool {
  name: string;
  build(ctx: string, tag: string): Promise<RunResult>;
  /** Forgets everything (fresh root, `buildctl prune --all`); not timed. */
  reset(): Promise<void>;
}

function tbuildTool(name: string, cli: string, work: string): Tool {
  let n = 0;
  let root = join(work, `${name}-root-0`);
  return {
    name,
    build: (ctx, tag) => timed(process.execPath, [cli, "build", "-q", "--root", root, "-t", tag, ctx]),
    async reset() {
      await removeTree(root);
      root = join(work, `${name}-root-${++n}`);
    },
  };
}

function buildkitHost(): string {
  return process.env["BUILDKIT_HOST"] ?? "unix:///run/buildkit/buildkitd.sock";
}

/** Why BuildKit cannot be measured here, or undefined when buildctl reaches a buildkitd. */
function buildkitProblem(): string | undefined {
  const version = spawnSync("buildctl", ["--version"], { encoding: "utf8" });
  if (version.status !== 0) return "buildctl is not installed (../shared/tools/buildkit-anchor.sh builds BuildKit and starts buildkitd)";
  const workers = spawnSync("buildctl", ["--addr", buildkitHost(), "debug", "workers"], { encoding: "utf8" });
  if (workers.status !== 0) return `no buildkitd answers at ${buildkitHost()} (start it with ../shared/tools/buildkit-anchor.sh, or set BUILDKIT_HOST): ${(workers.stderr || "").trim().split("\n").pop()}`;
  return undefined;
}

function buildkitTool(): Tool {
  const addr = ["--addr", buildkitHost()];
  return {
    name: "buildkit",
    build: (ctx, tag) =>
      timed("buildctl", [...addr, "build", "--progress", "plain", "--frontend", "dockerfile.v0", "--local", `context=${ctx}`, "--local", `dockerfile=${ctx}`, "--output", `type=image,name=${tag}`]),
    async reset() {
      const r = spawnSync("buildctl", [...addr, "prune", "--all"], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`buildctl prune --all failed: ${r.stderr}`);
    },
  };
}

function buildahTool(work: string): Tool {
  let n = 0;
  let store = join(work, "buildah-0");
  const args = (): string[] => ["--root", join(store, "root"), "--runroot", join(store, "runroot"), "--storage-driver", "overlay"];
  return {
    name: "buildah",
    build: (ctx, tag) => timed("buildah", [...args(), "build", "--layers", "--isolation", "chroot", "--tls-verify=false", "-q", "-t", tag, ctx]),
    async reset() {
      spawnSync("buildah", [...args(), "rm", "--all"], { stdio: "ignore" });
      await removeTree(store);
      store = join(work, `buildah-${++n}`);
    },
  };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), res(true)));
    s.once("error", () => res(false));
  });
}

async function hasBaseImage(): Promise<boolean> {
  try {
    const r = await fetch(`http://${REGISTRY_ADDR}/v2/busybox/manifests/1.35`, {
      method: "HEAD",
      headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
    });
    return r.ok;
  } catch {
    return false;
  }
}

/**
 * The workloads' base image, 127.0.0.1:5000/busybox:1.35: when no registry listens there,
 * a `docker-registry` is started on it (stopped by the returned function); when the image
 * is missing, one is made from this machine's static busybox (every applet linked in /bin)
 * with `tbuild import` and pushed.
 */
async function ensureBaseImage(work: string): Promise<() => Promise<void>> {
  let stop = async (): Promise<void> => undefined;
  if (!(await portOpen(5000))) {
    const storage = join(work, "registry");
    await mkdir(storage, { recursive: true });
    const config = join(work, "registry.yml");
    await writeFile(config, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\nhttp:\n  addr: ${REGISTRY_ADDR}\n`);
    const { spawn } = await import("node:child_process");
    const child = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
    stop = async () => {
      child.kill();
      await new Promise((r) => child.once("exit", r));
    };
    for (let i = 0; i < 100 && !(await portOpen(5000)); i++) await new Promise((r) => setTimeout(r, 100));
  }
  if (await hasBaseImage()) return stop;
  if (BUSYBOX === undefined) throw new Error("workloads: the base image needs a static busybox (apt package busybox-static)");
  const rootfs = join(work, "busybox-rootfs");
  for (const d of ["bin", "etc", "tmp", "root"]) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(join(rootfs, "tmp"), 0o1777);
  await copyFile(BUSYBOX, join(rootfs, "bin", "busybox"));
  const applets = spawnSync(BUSYBOX, ["--list"], { encoding: "utf8" }).stdout.split("\n").filter((a) => a !== "" && a !== "busybox");
  for (const a of applets) await symlink("busybox", join(rootfs, "bin", a));
  await writeFile(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await writeFile(join(rootfs, "etc", "group"), "root:x:0:\n");
  const tarFile = join(work, "busybox-rootfs.tar");
  const tar = spawnSync("tar", ["--sort=name", "--owner=0", "--group=0", "--mtime=@1700000000", "-C", rootfs, "-cf", tarFile, "."]);
  if (tar.status !== 0) throw new Error(`workloads: tar of the busybox rootfs failed: ${tar.stderr}`);
  const root = join(work, "base-root");
  await timed(process.execPath, [cliJs, "import", "--root", root, tarFile, BASE_IMAGE], { env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" } });
  await timed(process.execPath, [cliJs, "push", "--root", root, BASE_IMAGE]);
  await removeTree(root);
  return stop;
}

function workloadsDir(): string {
  const dir = resolve(process.env["BENCH_WORKLOADS_DIR"] ?? join(repoRoot, "..", "shared", "bench"));
  if (!existsSync(join(dir, "README.md"))) throw new Error(`workloads: no workloads at ${dir}; set BENCH_WORKLOADS_DIR to the shared/bench directory`);
  return dir;
}

interface Row {
  workload: string;
  phase: Phase;
  s: Record<string, number>;
  tbuildRssMiB: number;
}

export async function benchWorkloads(): Promise<void> {
  const dir = workloadsDir();
  const runs = Number(process.env["BENCH_RUNS"] ?? 3);
  const wanted = listEnv("BENCH_WORKLOADS");
  const phases = (listEnv("BENCH_PHASES") ?? [...PHASES]) as Phase[];
  const peers = listEnv("BENCH_PEERS") ?? ["buildkit", "buildah"];
  const names = ["w1-multistage", "w2-biglayer", "w3-manysteps"].filter((w) => wanted === undefined || wanted.some((x) => w.startsWith(x)));
  const work = await tempDir("workloads");
  const stopRegistry = await ensureBaseImage(work);
  try {
    const tools: Tool[] = [tbuildTool("tbuild", cliJs, work)];
    const baseline = process.env["BENCH_TBUILD_BASELINE"];
    if (baseline !== undefined && baseline !== "") tools.push(tbuildTool("tbuild-base", join(resolve(baseline), "dist", "cli", "main.js"), work));
    if (peers.includes("buildkit")) {
      const problem = buildkitProblem();
      if (problem === undefined) tools.push(buildkitTool());
      else process.stdout.write(`workloads: BuildKit skipped: ${problem}\n`);
    }
    if (peers.includes("buildah")) {
      const problem = await buildahProblem(work);
      if (problem === undefined) tools.push(buildahTool(work));
      else process.stdout.write(`workloads: buildah skipped: ${problem}\n`);
    }
    process.stdout.write(`workloads: ${tools.map((t) => t.name).join(", ")}; ${runs} runs each, interleaved\n`);
    const rows: Row[] = [];
    for (const name of names) {
      const ctx = join(work, name);
      const gen = spawnSync("sh", [join(dir, name, "gen.sh"), ctx], { encoding: "utf8" });
      if (gen.status !== 0) throw new Error(`workloads: ${name}/gen.sh failed: ${gen.stderr}`);
      const touchFile = join(ctx, (await readFile(join(dir, name, "TOUCH"), "utf8")).trim());
      const tag = `bench-${name}:latest`;
      const samples = new Map<string, number[]>();
      const add = (k: string, v: number): void => void (samples.get(k) ?? samples.set(k, []).get(k)!).push(v);
      const measure = async (phase: Phase, i: number): Promise<void> => {
        if (phase === "touch") await appendFile(touchFile, `touch ${i}\n`);
        const shown: string[] = [];
        for (const t of tools) {
          if (phase === "cold") await t.reset();
          const r = await t.build(ctx, tag);
          add(`${t.name} ${phase}`, r.ms / 1000);
          if (t.name === "tbuild") add(`rss ${phase}`, r.maxRssMiB);
          shown.push(`${t.name}=${fmt(r.ms / 1000)}s`);
        }
        // Every sample as it comes, so a run cut short still tells something.
        process.stdout.write(`  ${name} ${phase} #${i + 1}: ${shown.join("  ")}\n`);
      };
      // Cold runs leave a warm cache behind; noop and touch always build on one.
      if (!phases.includes("cold")) for (const t of tools) (await t.reset(), await t.build(ctx, tag));
      for (const phase of phases) for (let i = 0; i < runs; i++) await measure(phase, i);
      for (const phase of phases) {
        const s = Object.fromEntries(tools.map((t) => [t.name, median(samples.get(`${t.name} ${phase}`)!)]));
        const row: Row = { workload: name, phase, s, tbuildRssMiB: median(samples.get(`rss ${phase}`)!) };
        rows.push(row);
        const ratios = tools.filter((t) => t.name !== "tbuild").map((t) => `tbuild/${t.name}=${fmt(s["tbuild"]! / s[t.name]!)}`);
        process.stdout.write(`${`${name} ${phase}`.padEnd(22)} ${tools.map((t) => `${t.name}=${fmt(s[t.name]!)}s`).join("  ")}  ${ratios.join("  ")}  tbuild_rss=${fmt(row.tbuildRssMiB, 0)}MiB\n`);
      }
    }
    printTable(rows, tools.map((t) => t.name));
  } finally {
    await stopRegistry();
    await removeTree(work);
  }
}

/** The run as a markdown table, ready for docs/benchmarks.md. */
function printTable(rows: Row[], tools: string[]): void {
  const peers = tools.filter((t) => t !== "tbuild");
  const head = ["workload", "phase", ...tools.map((t) => `${t} (s)`), ...peers.map((p) => `tbuild / ${p}`), "tbuild peak RSS"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows) {
    const cells = [r.workload, r.phase, ...tools.map((t) => fmt(r.s[t]!).toFixed(2)), ...peers.map((p) => fmt(r.s["tbuild"]! / r.s[p]!).toFixed(2)), `${fmt(r.tbuildRssMiB, 0)} MiB`];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  process.stdout.write(`\n${lines.join("\n")}\n`);
}
