import type { ParseArgsConfig } from "node:util";
import { TbuildError } from "../errors.js";
import type { RegistryOptions } from "../registry/transport.js";

/** Flags every command that talks to a registry accepts. */
export const registryFlags = {
  "insecure-registry": { type: "string", multiple: true },
  "ca-cert": { type: "string", multiple: true },
} as const satisfies ParseArgsConfig["options"];

export const registryFlagsUsage = `Registry options:
  --insecure-registry HOST  allow plain HTTP and unverified TLS for HOST[:PORT]
                            (loopback addresses may use plain HTTP anyway, as with docker)
  --ca-cert FILE            trust the CA certificates in FILE (PEM); SSL_CERT_FILE also works
Credentials come from the docker config: $DOCKER_CONFIG/config.json or ~/.docker/config.json.`;

export function registryOptions(values: { "insecure-registry"?: string[]; "ca-cert"?: string[] }): RegistryOptions {
  return { insecureRegistries: values["insecure-registry"] ?? [], caCertFiles: values["ca-cert"] ?? [] };
}

/** Runs parseArgs, turning its errors (unknown flag, missing value) into usage errors. */
export function withUsageErrors<T>(parse: () => T, usage: string): T {
  try {
    return parse();
  } catch (e) {
    throw new TbuildError("invalid-argument", e instanceof Error ? e.message : String(e), { hint: usage.split("\n")[0] });
  }
}

/** A byte count such as 16777216, 512k or 16m. */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+)([kmg]?)i?b?$/i.exec(s.trim());
  if (m === null || Number(m[1]) === 0) throw new TbuildError("invalid-argument", `${flag}: '${s}' is not a size`, { hint: "write bytes, or a number with k, m or g, e.g. 16m" });
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? "").toLowerCase() as "" | "k" | "m" | "g"];
  return Number(m[1]) * unit;
}
