/** The registry test files share: kept apart from registry.ts, which the benchmarks import outside vitest. */
import { afterAll, beforeAll } from "vitest";
import { startRegistry, type RegistryConfig, type RegistryServer } from "./registry.js";

/**
 * One registry for the calling test file: started before its first test, stopped after
 * its last. The returned object is filled in when the registry has started.
 */
export function registryForFile(config: RegistryConfig = {}): RegistryServer {
  const registry = {} as RegistryServer;
  beforeAll(async () => {
    Object.assign(registry, await startRegistry(config));
  });
  afterAll(async () => {
    await registry.stop?.();
  });
  return registry;
}
