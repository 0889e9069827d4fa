/**
 * Runs apply, diff and disk-usage walks where they can read and own files: in this
 * process when privileged, else in worker.js under the namespace helper, with layer
 * bytes streamed over pipes.
 */
import { PassThrough, type Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { waitExit } from "../child-process.js";
import { isTbuildError, TbuildError, type ErrorCategory } from "../errors.js";
import { missingTool } from "../os-tools.js";
import { applyLayer, type ApplyOptions, type ApplyResult } from "./applier.js";
import { diskUsage, type DiskUsage, type UsageOptions } from "./disk-usage.js";
import { isPrivileged, namespaceFailure, nsSpawn } from "../userns/namespace.js";
import { diffTo, type DiffSpec } from "./worker.js";

/**
 * Path of the compiled worker script (`worker.js`). Under vitest the sources run from
 * `src/`; the worker then is the compiled twin in `dist/` (`npm test` builds first).
 */
function workerScript(): string {
  const here = fileURLToPath(new URL("./worker.js", import.meta.url));
  return import.meta.url.endsWith(".ts") ? here.replace(/\/src\/snapshotter\/worker\.js$/, "/dist/snapshotter/worker.js") : here;
}

function workerError(stderr: string, code: number | null, doing: string): TbuildError {
  const last = stderr.trim().split("\n").pop() ?? "";
  try {
    const { tbuildError } = JSON.parse(last) as { tbuildError: { category: ErrorCategory; message: string; hint?: string } };
    return new TbuildError(tbuildError.category, tbuildError.message, tbuildError.hint === undefined ? {} : { hint: tbuildError.hint });
  } catch {
    return namespaceFailure(stderr, doing) ?? new TbuildError("internal", `${doing}: worker exited with ${code}: ${stderr.trim().slice(-600)}`);
  }
}

function startWorker(args: string[], doing: string) {
  const child = nsSpawn(process.execPath, [workerScript(), ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-8000);
  });
  // Waited on by exit, not by its pipes closing: a helper unshare leaves behind may hold them.
  const exited = waitExit(child, { doing }).then(
    ({ code }) => {
      if (code !== 0) throw workerError(stderr, code, doing);
    },
    (e: unknown) => {
      throw isTbuildError(e) ? e : missingTool((e as NodeJS.ErrnoException).path ?? "unshare", `${doing}: starting the namespace helper`, e as Error);
    },
  );
  return { child, exited };
}

/** Extracts `layer` into `dir` (see applier.ts), in a namespace when unprivileged. */
export async function applyIsolated(dir: string, layer: Readable, o: ApplyOptions): Promise<ApplyResult> {
  if (isPrivileged()) return applyLayer(dir, layer, o);
  const doing = `applying layer ${o.layer}`;
  const { child, exited } = startWorker(["apply", dir, JSON.stringify(o)], doing);
  const out: Buffer[] = [];
  child.stdout?.on("data", (c: Buffer) => out.push(c));
  // If the worker fails early, stdin breaks (EPIPE): the worker's own error is the one
  // worth reporting. But if the layer stream itself fails (a damaged download, an unsafe
  // archive), the worker only sees it end early: that must not pass for a short layer.
  // `pipe`, unlike `pipeline`, leaves the source alone when stdin breaks, so an error on
  // the source is the source's own; it may also have failed before we got it.
  let sourceError: Error | null = layer.errored;
  const stdin = child.stdin!;
  stdin.on("error", () => undefined);
  if (sourceError !== null) stdin.destroy();
  else {
    layer.on("error", (e) => {
      sourceError ??= e;
      // The worker must not wait for the rest of a layer that will never come.
      stdin.destroy();
    });
    layer.pipe(stdin);
  }
  try {
    await exited;
  } catch (e) {
    throw sourceError ?? e;
  }
  if (sourceError !== null) throw sourceError;
  return JSON.parse(Buffer.concat(out).toString("utf8")) as ApplyResult;
}

/** The layer tar for `spec` as a stream, produced in a namespace when unprivileged. */
export function diffIsolated(spec: DiffSpec): Readable {
  const out = new PassThrough();
  if (isPrivileged()) {
    diffTo(spec, out).catch((e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
    return out;
  }
  const { child, exited } = startWorker(["diff", JSON.stringify(spec)], `computing the diff of ${spec.upper}`);
  child.stdin?.end();
  child.stdout?.pipe(out, { end: false });
  let stdoutEnded = false;
  let ok = false;
  const finish = (): void => {
    if (stdoutEnded && ok) out.end();
  };
  child.stdout?.on("end", () => {
    stdoutEnded = true;
    finish();
  });
  exited.then(
    () => {
      ok = true;
      finish();
    },
    (e: unknown) => out.destroy(e as Error),
  );
  return out;
}

/** The disk usage of each of `roots` (see disk-usage.ts), measured in a namespace when unprivileged. */
export async function measureTrees(roots: readonly string[], o: UsageOptions = {}): Promise<DiskUsage[]> {
  if (isPrivileged() || roots.length === 0) return diskUsage(roots, o);
  const doing = `measuring ${roots.length === 1 ? roots[0] : `${roots.length} trees`}`;
  const { child, exited } = startWorker(["du", JSON.stringify({ roots, ...o })], doing);
  child.stdin?.end();
  const out: Buffer[] = [];
  child.stdout?.on("data", (c: Buffer) => out.push(c));
  await exited;
  return JSON.parse(Buffer.concat(out).toString("utf8")) as DiskUsage[];
}
