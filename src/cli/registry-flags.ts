import type { ParseArgsConfig } from "node:util";
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
