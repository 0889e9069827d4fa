import { describe, expect, it } from "vitest";
import { familiarReference, normalizeName, parseReference } from "../../src/oci/reference.js";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  it.each([
    ["busybox", { registry: "docker.io", repository: "library/busybox", tag: "latest" }],
    ["busybox:1.36", { registry: "docker.io", repository: "library/busybox", tag: "1.36" }],
    ["me/app", { registry: "docker.io", repository: "me/app", tag: "latest" }],
    ["index.docker.io/library/ubuntu:22.04", { registry: "docker.io", repository: "library/ubuntu", tag: "22.04" }],
    ["localhost:5000/app", { registry: "localhost:5000", repository: "app", tag: "latest" }],
    ["localhost/app:dev", { registry: "localhost", repository: "app", tag: "dev" }],
    ["ghcr.io/org/team/app:v1.2", { registry: "ghcr.io", repository: "org/team/app", tag: "v1.2" }],
    [`busybox@${D}`, { registry: "docker.io", repository: "library/busybox", digest: D }],
    [`127.0.0.1:5000/a/b:t@${D}`, { registry: "127.0.0.1:5000", repository: "a/b", tag: "t", digest: D }],
  ])("%s", (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it.each([
    ["", /empty/],
    ["Busybox", /lowercase/],
    ["app:bad tag", /tag/],
    ["app@sha256:123", /not a sha256 digest/],
    ["a//b", /path component/],
    ["-bad.host-/x", /registry host/],
  ])("refuses %j", (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });

  it("round-trips through the full and familiar forms", () => {
    for (const s of ["busybox:latest", "me/app:1", "ghcr.io/o/a:2", "localhost:5000/x:y"]) {
      expect(familiarReference(parseReference(normalizeName(s)))).toBe(s);
    }
    expect(normalizeName("busybox")).toBe("docker.io/library/busybox:latest");
  });
});
