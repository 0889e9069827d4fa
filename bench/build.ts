/**
 * `build`: `tbuild build` next to `buildah build --layers` (overlay storage, chroot
 * isolation, as root) on the same Dockerfile and context, both as CLI processes:
 * cold (fresh tbuild root / fresh buildah storage), warm (nothing changed, every step
 * cached) and one context file changed (only the last COPY reruns). Samples of the two
 * tools are interleaved. When buildah cannot build here, tbuild is measured alone and
 * the reason is printed.
 */
import { spawnSync } from "node:child_process";
import { appendFile, copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { median, report } from "./stats.js";
import { Prng, cliJs, fmt, removeTree, tempDir, textChunk, timed, type RunResult } from "./util.js";

const COLD_RUNS = 3;
const WARM_RUNS = 5;
const CHANGE_RUNS = 3;
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => spawnSync(p, ["true"]).status === 0);

export const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /data && head -c 10485760 /dev/urandom > /data/random.bin
RUN seq 1 400000 | sed 's/^/a line of generated text, number /' > /data/text.txt
RUN mkdir -p /data/many && cd /data/many && for i in $(seq 1 200); do echo "file $i" > f$i.txt; done
ENV APP=/app
WORKDIR /app
COPY app/ /app/
CMD ["/bin/sh"]
`;

/** The context: busybox, the Dockerfile and app/ with 300 small files in 10 directories. */
async function makeContext(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await copyFile(BUSYBOX!, join(dir, "busybox"));
  await writeFile(join(dir, "Dockerfile"), DOCKERFILE);
  const rng = new Prng(7);
  for (let i = 0; i < 300; i++) {
    const d = join(dir, "app", `m${i % 10}`);
    if (i < 10) await mkdir(d, { recursive: true });
    await writeFile(join(d, `f${i}.txt`), textChunk(rng, 200 + rng.int(4000)));
  }
}

function buildahArgs(store: string): string[] {
  return ["--root", join(store, "root"), "--runroot", join(store, "runroot"), "--storage-driver", "overlay"];
}

/** Why buildah cannot build here, or undefined when a tiny build works. */
export async function buildahProblem(work: string): Promise<string | undefined> {
  if (spawnSync("buildah", ["--version"]).status !== 0) return "buildah is not installed";
  const dir = join(work, "probe");
  const ctx = join(dir, "ctx");
  await mkdir(ctx, { recursive: true });
  await copyFile(BUSYBOX!, join(ctx, "busybox"));
  await writeFile(join(ctx, "Dockerfile"), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "true"]\n');
  const r = spawnSync("buildah", [...buildahArgs(join(dir, "store")), "build", "--layers", "--isolation", "chroot", "-q", "-t", "probe", ctx], { encoding: "utf8" });
  await removeTree(dir);
  return r.status === 0 ? undefined : `buildah build failed (exit ${r.status}): ${(r.stderr || r.stdout || String(r.error)).trim().split("\n").slice(-3).join(" | ")}`;
}

export async function benchBuild(): Promise<void> {
  if (BUSYBOX === undefined) throw new Error("build benchmark: needs a static busybox (apt package busybox-static)");
  const work = await tempDir("build");
  try {
    const ctx = join(work, "ctx");
    await makeContext(ctx);
    const problem = await buildahProblem(work);
    const version = spawnSync("buildah", ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "";
    process.stdout.write(problem === undefined ? `build: ${version}, overlay storage, --layers, --isolation chroot\n` : `build: buildah skipped: ${problem}\n`);

    const tbuild = (root: string): Promise<RunResult> => timed(process.execPath, [cliJs, "build", "-q", "--root", root, "-t", "bench-build:latest", ctx]);
    const buildah = (store: string): Promise<RunResult> =>
      timed("buildah", [...buildahArgs(store), "build", "--layers", "--isolation", "chroot", "-q", "-t", "bench-build:latest", ctx]);
    const s: Record<string, number[]> = {};
    const rss: Record<string, number[]> = {};
    const add = (k: string, r: RunResult): void => {
      (s[k] ??= []).push(r.ms);
      (rss[k] ??= []).push(r.maxRssMiB);
    };
    let tbRoot = "";
    let bhStore = "";
    for (let i = 0; i < COLD_RUNS; i++) {
      if (tbRoot !== "") await removeTree(tbRoot);
      if (bhStore !== "") await removeTree(bhStore);
      tbRoot = join(work, `tbuild-${i}`);
      bhStore = join(work, `buildah-${i}`);
      add("tbuild cold", await tbuild(tbRoot));
      if (problem === undefined) add("buildah cold", await buildah(bhStore));
    }
    for (let i = 0; i < WARM_RUNS; i++) {
      add("tbuild CLI startup (images)", await timed(process.execPath, [cliJs, "images", "--root", tbRoot]));
      add("tbuild warm", await tbuild(tbRoot));
      if (problem === undefined) add("buildah warm", await buildah(bhStore));
    }
    for (let i = 0; i < CHANGE_RUNS; i++) {
      await appendFile(join(ctx, "app", "m0", "f0.txt"), `changed ${i}\n`);
      add("tbuild 1 file changed", await tbuild(tbRoot));
      if (problem === undefined) add("buildah 1 file changed", await buildah(bhStore));
    }
    for (const phase of ["cold", "warm", "1 file changed"]) {
      const t = median(s[`tbuild ${phase}`]!);
      const b = s[`buildah ${phase}`];
      report(`build tbuild ${phase}`, { median_s: fmt(t / 1000), peak_rss_MiB: fmt(median(rss[`tbuild ${phase}`]!), 0), ...(b === undefined ? {} : { tbuild_time_ratio: fmt(t / median(b)) }) });
      if (b !== undefined) report(`build buildah ${phase}`, { median_s: fmt(median(b) / 1000), peak_rss_MiB: fmt(median(rss[`buildah ${phase}`]!), 0) });
    }
    report("build tbuild CLI startup", { median_s: fmt(median(s["tbuild CLI startup (images)"]!) / 1000) });
  } finally {
    await removeTree(work);
  }
}
