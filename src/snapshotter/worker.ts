/**
 * The worker: runs tree operations inside the namespace helper for unprivileged callers
 * (see namespace.ts). Not a user command; spawned by worker-client.ts.
 *
 *   worker.js apply DIR JSON-OPTIONS                layer bytes on stdin, ApplyResult JSON on stdout
 *   worker.js diff JSON-SPEC                        layer tar on stdout
 *   worker.js du JSON-SPEC                          DiskUsage[] JSON on stdout (disk-usage.ts)
 *
 * Failures are reported as one JSON line on stderr so the parent can rethrow the same
 * TbuildError (category, message, hint) instead of a bare exit code.
 */
import { TbuildError } from "../errors.js";
import { applyLayer, type ApplyOptions } from "./applier.js";
import { diskUsage, type UsageOptions } from "./disk-usage.js";
import { writeLayerTar } from "./differ.js";
import { snapshotDriver, type Driver } from "./drivers/index.js";

/** A snapshot's changes to write as a layer: its tree and its ancestors' (nearest first). */
export interface DiffSpec {
  driver: Driver;
  upper: string;
  /** None: the whole tree is the layer. */
  lowers?: string[];
  sourceDateEpoch?: number;
}

export async function diffTo(spec: DiffSpec, out: NodeJS.WritableStream): Promise<void> {
  const changes = snapshotDriver(spec.driver).changes(spec.upper, spec.lowers ?? []);
  await writeLayerTar(changes, out as import("node:stream").Writable, spec.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: spec.sourceDateEpoch });
}

async function main(argv: string[]): Promise<void> {
  const [op, ...args] = argv;
  if (op === "apply") {
    const [dir, options] = args as [string, string];
    const result = await applyLayer(dir, process.stdin, JSON.parse(options) as ApplyOptions);
    process.stdout.write(JSON.stringify(result));
    return;
  }
  if (op === "diff") {
    await diffTo(JSON.parse(args[0] as string) as DiffSpec, process.stdout);
    return;
  }
  if (op === "du") {
    const spec = JSON.parse(args[0] as string) as { roots: string[] } & UsageOptions;
    process.stdout.write(JSON.stringify(await diskUsage(spec.roots, spec)));
    return;
  }
  throw new TbuildError("invalid-argument", `worker: unknown operation '${op}'`);
}

// Only when run as a program, so diffTo can be imported without side effects.
if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    const err =
      e instanceof TbuildError ? { category: e.category, message: e.message, hint: e.hint } : { category: "internal", message: e instanceof Error ? e.message : String(e) };
    process.stderr.write(`\n${JSON.stringify({ tbuildError: err })}\n`);
    process.exitCode = 1;
  });
}
