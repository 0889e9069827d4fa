/**
 * `--cache-from` / `--cache-to` values in buildx's spelling, checked before the build
 * starts: an unknown type, key or value is refused with what is accepted, never
 * silently ignored.
 */
import path from "node:path";
import { TbuildError } from "../errors.js";
import { mountFields } from "../parser/index.js";

/** min: the steps of the final image (and the stages it is built on); max: every stage's steps. */
export type CacheMode = "min" | "max";

export type CacheImportSpec = { type: "registry"; ref: string } | { type: "local"; src: string };

interface ExportCommon {
  /** A failed export is a warning, not a failed build (buildx's ignore-error). */
  ignoreError: boolean;
}
interface MountsCommon {
  /** Also export the contents of the build's `RUN --mount=type=cache` ids (`cache-mounts=true`). */
  cacheMounts?: boolean;
}
export type CacheExportSpec =
  | (ExportCommon & MountsCommon & { type: "registry"; ref: string; mode: CacheMode })
  | (ExportCommon & MountsCommon & { type: "local"; dest: string; mode: CacheMode; maxSize?: number; maxAgeMs?: number })
  | (ExportCommon & { type: "inline" });

const NOT_HERE = ["gha", "s3", "azblob"];

function refuse(flag: string, spec: string, message: string, hint: string): never {
  throw new TbuildError("invalid-argument", `${flag} ${spec}: ${message}`, { hint });
}

function checkKeys(flag: string, spec: string, fields: Map<string, string>, allowed: string[]): void {
  for (const key of fields.keys()) {
    if (!allowed.includes(key)) refuse(flag, spec, `unknown key '${key}' for type=${fields.get("type") ?? "registry"}`, `accepted keys: ${allowed.join(", ")}`);
  }
}

function choice<T extends string>(flag: string, spec: string, fields: Map<string, string>, key: string, values: readonly T[], fallback: T): T {
  const value = fields.get(key) ?? fallback;
  if (!(values as readonly string[]).includes(value)) refuse(flag, spec, `${key}=${value} is not one of ${values.join(", ")}`, `write ${key}=${values.join(" or ")}`);
  return value as T;
}

function required(flag: string, spec: string, fields: Map<string, string>, key: string, example: string): string {
  const value = fields.get(key);
  if (value === undefined || value === "" || value === "true") refuse(flag, spec, `needs ${key}=`, `e.g. ${flag} ${example}`);
  return value;
}

function typeOf(flag: string, spec: string, fields: Map<string, string>, types: string[]): string {
  const type = fields.get("type") ?? "registry";
  if (NOT_HERE.includes(type)) {
    throw new TbuildError("not-implemented", `${flag} type=${type} is not implemented`, { hint: `use type=local with your CI's cache (see the README's CI recipes), or type=registry` });
  }
  if (!types.includes(type)) refuse(flag, spec, `unknown type '${type}'`, `types: ${types.join(", ")}`);
  return type;
}

/** `type=registry,ref=R`, `type=local,src=DIR`, or a bare R (a registry cache, or an image with inline records). */
export function parseCacheImport(spec: string): CacheImportSpec {
  const flag = "--cache-from";
  if (!spec.includes("=")) return { type: "registry", ref: spec };
  const fields = mountFields(spec);
  const type = typeOf(flag, spec, fields, ["registry", "local"]);
  if (type === "local") {
    checkKeys(flag, spec, fields, ["type", "src"]);
    return { type: "local", src: path.resolve(required(flag, spec, fields, "src", "type=local,src=/tmp/tbuild-cache")) };
  }
  checkKeys(flag, spec, fields, ["type", "ref"]);
  return { type: "registry", ref: required(flag, spec, fields, "ref", "type=registry,ref=ghcr.io/org/app:buildcache") };
}

/** `type=registry,ref=R[,mode=min|max][,cache-mounts=true]`, `type=local,dest=DIR[,mode=…,max-size=…,max-age=…,cache-mounts=true]`, `type=inline`, or a bare R. */
export function parseCacheExport(spec: string): CacheExportSpec {
  const flag = "--cache-to";
  if (!spec.includes("=")) return { type: "registry", ref: spec, mode: "min", ignoreError: false };
  const fields = mountFields(spec);
  const type = typeOf(flag, spec, fields, ["registry", "local", "inline"]);
  const ignoreError = choice(flag, spec, fields, "ignore-error", ["true", "false"], "false") === "true";
  if (type === "inline") {
    if (fields.has("cache-mounts")) {
      refuse(flag, spec, "an inline cache holds only the image's own layers, not cache mounts", "export cache mounts with type=registry,ref=R,cache-mounts=true or type=local,dest=DIR,cache-mounts=true");
    }
    // As buildx: an inline cache can only hold the final image's own layers.
    checkKeys(flag, spec, fields, ["type", "mode", "ignore-error"]);
    choice(flag, spec, fields, "mode", ["min"], "min");
    return { type: "inline", ignoreError };
  }
  const mode = choice(flag, spec, fields, "mode", ["min", "max"], "min");
  const mounts = choice(flag, spec, fields, "cache-mounts", ["true", "false"], "false") === "true" ? { cacheMounts: true } : {};
  if (type === "local") {
    checkKeys(flag, spec, fields, ["type", "dest", "mode", "max-size", "max-age", "ignore-error", "cache-mounts"]);
    const maxSize = fields.get("max-size");
    const maxAge = fields.get("max-age");
    return {
      type: "local",
      dest: path.resolve(required(flag, spec, fields, "dest", "type=local,dest=/tmp/tbuild-cache")),
      mode,
      ignoreError,
      ...mounts,
      ...(maxSize === undefined ? {} : { maxSize: parseSize(flag, spec, maxSize) }),
      ...(maxAge === undefined ? {} : { maxAgeMs: parseDuration(flag, spec, maxAge) }),
    };
  }
  // Accepted for buildx compatibility: tbuild always writes an OCI image manifest.
  for (const key of ["image-manifest", "oci-mediatypes"]) choice(flag, spec, fields, key, ["true"], "true");
  checkKeys(flag, spec, fields, ["type", "ref", "mode", "ignore-error", "image-manifest", "oci-mediatypes", "cache-mounts"]);
  return { type: "registry", ref: required(flag, spec, fields, "ref", "type=registry,ref=ghcr.io/org/app:buildcache"), mode, ignoreError, ...mounts };
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** `500mb`, `2g`, `1048576`. */
function parseSize(flag: string, spec: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
  const unit = m === null ? undefined : SIZE_UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) refuse(flag, spec, `max-size=${text} is not a size`, "e.g. max-size=500mb or max-size=2g");
  return Math.floor(Number(m[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `72h`, `7d`, `30m`. */
function parseDuration(flag: string, spec: string, text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (m === null) refuse(flag, spec, `max-age=${text} is not a duration`, "e.g. max-age=168h or max-age=7d");
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}
