import type * as z from "./zod.js";
import { TbuildError } from "../errors.js";

/**
 * Parses JSON bytes against a schema. Failures become one invalid-argument TbuildError
 * that names what was being read and where the first problems are, e.g.
 * "index.json in /root/x: manifests[0].digest: invalid digest".
 */
export function parseJson<S extends z.ZodMiniType>(schema: S, bytes: Uint8Array | string, what: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new TbuildError("invalid-argument", `${what}: not valid JSON (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 3).map((i) => `${formatPath(i.path)}${i.message}`);
  const more = result.error.issues.length > 3 ? ` (and ${result.error.issues.length - 3} more)` : "";
  throw new TbuildError("invalid-argument", `${what}: ${problems.join("; ")}${more}`, { cause: result.error });
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out === "" ? "" : `${out}: `;
}
