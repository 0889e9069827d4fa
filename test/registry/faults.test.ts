/**
 * Pushes and pulls through a proxy that resets connections, injects 500s and 429s,
 * stalls and corrupts bytes in front of the real registry: they still complete, and
 * what arrives matches its digests (checked again by skopeo, which verifies blobs).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pullImage } from "../../src/store/registry-transfer.js";
import { pushImage } from "../../src/store/registry-transfer.js";
import { openStore } from "../../src/store/image-store.js";
import { exec, startRegistry, tempDir, type RegistryServer } from "../setup/registry.js";
import { addToIndex, writeImage } from "./images.js";
import { startFaultProxy, type Fault, type FaultProxy } from "./fault-proxy.js";

const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
/** Short timeouts and backoff so stalls and retries take seconds, not minutes. */
const fast = { credentials: async () => undefined, timeoutMs: 1_000, retries: 8, retryDelayMs: 20 };
const PLAN: Fault[] = ["pass", "reset", "error500", "stall", "corrupt", "error429", "reset", "error500", "corrupt", "stall", "reset", "error500", "corrupt", "reset", "error429", "reset"];

let registry: RegistryServer;
const proxies: FaultProxy[] = [];
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  for (const p of proxies) await p.stop();
  await registry?.stop();
});

async function proxy(plan: Fault[]): Promise<FaultProxy> {
  const p = await startFaultProxy(registry.port, plan);
  proxies.push(p);
  return p;
}

describe("an unreliable network", () => {
  let pushed: { digest: string };

  it("pushes through resets, 500s, 429s, stalls and corruption", async () => {
    const p = await proxy(PLAN);
    const root = await tempDir();
    const name = `${p.host}/faulty/app:1`;
    const desc = await writeImage(root, { layerSizes: [2 * 1024 * 1024, 300_000, 10] });
    await addToIndex(root, desc, name);
    const store = await openStore(root);
    pushed = await pushImage(store, name, undefined, { ...fast, monolithicLimit: 512 * 1024, chunkSize: 256 * 1024 });

    expect(pushed.digest).toBe(desc.digest);
    expect(p.stats.reset + p.stats.error500 + p.stats.stall + p.stats.corrupt).toBeGreaterThanOrEqual(4);
    // Straight to the registry, without the proxy: skopeo verifies every blob's digest as it copies.
    const direct = `${registry.host}/faulty/app:1`;
    const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${direct}`]);
    expect(sha(stdout)).toBe(desc.digest);
    const out = await tempDir();
    await exec("skopeo", ["copy", "--src-tls-verify=false", `docker://${direct}`, `oci:${out}:x`]);
  });

  it("pulls through the same faults with every blob verified", async () => {
    const p = await proxy(PLAN);
    const root = await tempDir();
    const store = await openStore(root);
    const r = await pullImage(`${p.host}/faulty/app:1`, { ...fast, store });

    expect(r.descriptor.digest).toBe(pushed.digest);
    expect(p.stats.reset + p.stats.error500 + p.stats.stall + p.stats.corrupt).toBeGreaterThanOrEqual(4);
    for (const blob of [r.manifest.config, ...r.manifest.layers]) {
      const bytes = await readFile(join(root, "blobs", "sha256", blob.digest.slice(7)));
      expect(sha(bytes)).toBe(blob.digest);
      expect(bytes.length).toBe(blob.size);
    }
  });

  it("gives up on data that never matches its digest, and says so", async () => {
    const p = await proxy(Array<Fault>(40).fill("garble"));
    const store = await openStore(await tempDir());
    await expect(pullImage(`${p.host}/faulty/app:1`, { ...fast, retries: 2, store })).rejects.toMatchObject({
      category: "unavailable",
      message: expect.stringMatching(/^pull blob sha256:[0-9a-f]{64} from 127\.0\.0\.1:\d+\/faulty\/app: the bytes received from http:\/\/127\.0\.0\.1:\d+\/v2\/faulty\/app\/blobs\/sha256:[0-9a-f]{64} do not match the digest/),
    });
    // Blobs that did arrive intact may stay; nothing damaged is stored, and no image is tagged.
    for await (const blob of store.content.walk()) expect(sha(await readFile(store.content.blobPath(blob.digest)))).toBe(blob.digest);
    expect(await store.listImages()).toEqual([]);
  });

  it("reports a registry that never answers with the URL and no stack", async () => {
    const p = await proxy(Array<Fault>(40).fill("stall"));
    const store = await openStore(await tempDir());
    const err = await pullImage(`${p.host}/faulty/app:1`, { ...fast, retries: 1, timeoutMs: 300, store }).catch((e: unknown) => e);
    expect(err).toMatchObject({ category: "unavailable", message: `connect to ${p.host}: no answer from https://${p.host}/v2/ (ETIMEDOUT)` });
  });
});
