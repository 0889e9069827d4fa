import { describe, expect, it } from "vitest";
import { digestOf, isDigest, parseDigest } from "../../src/oci/digest.js";
import { parseJson } from "../../src/oci/parse-json.js";
import { imageConfigSchema, indexSchema, manifestSchema } from "../../src/oci/schemas.js";

describe("OCI schemas", () => {
  it("names the file and field that is wrong", () => {
    const bad = JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "x", digest: "sha256:nope", size: 1 }] });
    expect(() => parseJson(indexSchema, bad, "index.json in /root/x")).toThrow("index.json in /root/x: manifests[0].digest: invalid digest");
    expect(() => parseJson(indexSchema, "{", "index.json in /root/x")).toThrow(/index.json in \/root\/x: not valid JSON/);
  });

  it("keeps fields it does not know and accepts Docker's nulls", () => {
    const config = parseJson(
      imageConfigSchema,
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        container: "abc",
        config: { Env: ["A=1"], Cmd: null, ExposedPorts: { "80/tcp": {} }, Healthcheck: { Test: ["CMD", "true"], Interval: 1e9 }, Hostname: "h" },
        rootfs: { type: "layers", diff_ids: [digestOf("x")] },
      }),
      "config",
    );
    expect(config["container"]).toBe("abc");
    expect(config.config?.["Hostname"]).toBe("h");
    expect(config.config?.Healthcheck?.Test).toEqual(["CMD", "true"]);
  });

  it("reads Docker schema2 manifests", () => {
    const m = parseJson(
      manifestSchema,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: digestOf("c"), size: 1 },
        layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: digestOf("l"), size: 2, urls: ["https://x"] }],
      }),
      "manifest",
    );
    expect(m.layers[0]?.urls).toEqual(["https://x"]);
  });

  it("validates sha256 digests", () => {
    expect(isDigest(digestOf("x"))).toBe(true);
    expect(isDigest("sha256:ABC")).toBe(false);
    expect(() => parseDigest("md5:abc", "--from")).toThrow("--from: 'md5:abc' is not a sha256 digest");
  });
});
