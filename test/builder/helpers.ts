import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { build, type BuildEvent, type BuildOptions } from "../../src/builder/build.js";
import { spawnAsync } from "../setup/spawn.js";

export const BUSYBOX = "/bin/busybox";

/** A build context holding the static busybox binary plus `files`. */
export function context(files: Record<string, string>, parent = tmpdir()): string {
  const dir = mkdtempSync(path.join(parent, "tbuild-ctx-"));
  copyFileSync(BUSYBOX, path.join(dir, "busybox"));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

/** The first lines of most test Dockerfiles: a shell from busybox on scratch. */
export const BUSYBOX_BASE = 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n';

export async function buildCollecting(o: BuildOptions): Promise<{ result: Awaited<ReturnType<typeof build>>; events: BuildEvent[]; output: string }> {
  const events: BuildEvent[] = [];
  const result = await build({ ...o, onEvent: (e) => events.push(e) });
  const output = events.map((e) => (e.kind === "step-log" ? e.text : "")).join("");
  return { result, events, output };
}

/** Each instruction step a build reported (FROM lines aside), in order, and whether the cache answered it. */
export function instructionSteps(events: BuildEvent[]): { instruction: string; stage: string; cached: boolean }[] {
  const cached = new Set(events.flatMap((e) => (e.kind === "step-cached" ? [e.step] : [])));
  return events.flatMap((e) =>
    e.kind === "step-start" && e.type === "instruction" && !e.instruction!.startsWith("FROM ") ? [{ instruction: e.instruction!, stage: e.stage!, cached: cached.has(e.step) }] : [],
  );
}

/** Unpacks an image of a store with umoci (a tool nobody here wrote) and returns the rootfs path. */
export async function umociUnpack(root: string, name: string): Promise<string> {
  const bundle = path.join(mkdtempSync(path.join(tmpdir(), "tbuild-bundle-")), "b");
  // As a normal user umoci can only unpack with --rootless (files then belong to that user).
  const rootless = process.geteuid?.() === 0 ? [] : ["--rootless"];
  const r = await spawnAsync("umoci", ["unpack", ...rootless, "--image", `${root}:${name}`, bundle]);
  if (r.status !== 0) throw new Error(`umoci unpack failed: ${r.stderr}`);
  return path.join(bundle, "rootfs");
}

export async function skopeoInspect(ref: string): Promise<{ Digest: string; Layers: string[]; Env?: string[] }> {
  const r = await spawnAsync("skopeo", ["inspect", ref]);
  if (r.status !== 0) throw new Error(`skopeo inspect ${ref} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { Digest: string; Layers: string[] };
}

export function freshRoot(): string {
  return mkdtempSync(path.join(tmpdir(), "tbuild-root-"));
}
