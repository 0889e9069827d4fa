/**
 * Every exporter type, in one table: the `-o` types by name, and the `--cache-to` types
 * (./cache.ts). Adding an output means adding an entry here; nothing else switches on
 * a type string.
 */
import { TbuildError } from "../errors.js";
import { mountFields } from "../parser/index.js";
import type { CacheExportSpec } from "../cache/spec.js";
import { resolveCacheExport } from "./cache.js";
import type { OutputSpec, OutputType, ResolvedExporter, ResolveContext } from "./exporter.js";
import { dockerOutput, localOutput, ociOutput, tarOutput } from "./files.js";
import { imageOutput, registryOutput } from "./push.js";

export const outputTypes: Readonly<Record<string, OutputType>> = Object.fromEntries(
  [ociOutput, dockerOutput, localOutput, tarOutput, registryOutput, imageOutput].map((t) => [t.type, t]),
);

function outputType(type: string): OutputType {
  const found = outputTypes[type];
  if (found === undefined) throw new TbuildError("invalid-argument", `--output type=${type}: unknown type`, { hint: `choose one of: ${Object.keys(outputTypes).join(", ")}` });
  return found;
}

/**
 * buildx's `-o` value: `type=T,key=value,...`; a bare path means type=local,dest=PATH,
 * and `-` a tar of the root filesystem on standard output (type=tar,dest=-).
 */
export function parseOutput(spec: string): OutputSpec {
  if (spec === "-") return { type: "tar", dest: "-" };
  if (!spec.includes("=")) return { type: "local", dest: spec };
  const fields = mountFields(spec);
  const typeName = fields.get("type");
  if (typeName === undefined) throw new TbuildError("invalid-argument", `--output ${spec}: needs type=`, { hint: `e.g. --output type=oci,dest=image.tar; types: ${Object.keys(outputTypes).join(", ")}` });
  const type = outputType(typeName);
  for (const key of fields.keys()) {
    if (key !== "type" && !type.fields.includes(key)) {
      throw new TbuildError("invalid-argument", `--output ${spec}: type=${type.type} has no field '${key}'`, { hint: `its fields are ${type.fields.join(", ")}; e.g. --output ${type.example}` });
    }
  }
  const flag = (key: string): boolean | undefined => {
    const v = fields.get(key);
    if (v === undefined) return undefined;
    if (v !== "true" && v !== "false") throw new TbuildError("invalid-argument", `--output ${spec}: ${key}=${v} is not true or false`);
    return v === "true";
  };
  const tar = flag("tar");
  const push = flag("push");
  const dest = fields.get("dest");
  const name = fields.get("name");
  return { type: type.type, ...(dest === undefined ? {} : { dest }), ...(name === undefined ? {} : { name }), ...(tar === undefined ? {} : { tar }), ...(push === undefined ? {} : { push }) };
}

/**
 * Checks every output and cache export before the build and returns them ready to run,
 * image outputs first, then cache exports (BuildKit's order).
 */
export async function resolveExporters(outputs: readonly OutputSpec[], cacheTo: readonly CacheExportSpec[], ctx: ResolveContext): Promise<ResolvedExporter[]> {
  const resolved: ResolvedExporter[] = [];
  for (const spec of outputs) resolved.push(await outputType(spec.type).resolve(spec, ctx));
  if (resolved.filter((r) => r.writesStdout === true).length > 1) {
    throw new TbuildError("invalid-argument", "only one --output can write to standard output (dest=-)", { hint: "give the others a file: dest=FILE" });
  }
  return [...resolved, ...cacheTo.map(resolveCacheExport)];
}
