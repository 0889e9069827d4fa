import { describe, expect, it } from "vitest";
import { hostsFile, parseExtraHost, resolvConf } from "../../src/builder/step-files.js";

const files = (map: Record<string, string>) => (p: string) => (p in map ? Promise.resolve(map[p]!) : Promise.reject(new Error("ENOENT")));

describe("a step's resolv.conf", () => {
  it("is the host's on the host's network, loopback resolver and all", async () => {
    const host = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n";
    expect(await resolvConf("default", files({ "/etc/resolv.conf": host }))).toBe(host);
  });

  it("drops loopback nameservers in a network namespace of its own, as BuildKit does", async () => {
    const host = "nameserver 127.0.0.1\nnameserver 10.0.0.2\nnameserver ::1\nsearch corp.example\n";
    expect(await resolvConf("none", files({ "/etc/resolv.conf": host }))).toBe("nameserver 10.0.0.2\nsearch corp.example\n");
  });

  it("takes systemd-resolved's upstream list, or Google's resolvers when nothing usable is left", async () => {
    const stub = "nameserver 127.0.0.53\nsearch lan\n";
    expect(await resolvConf("none", files({ "/etc/resolv.conf": stub, "/run/systemd/resolve/resolv.conf": "nameserver 192.168.1.1\n" }))).toBe("nameserver 192.168.1.1\n");
    expect(await resolvConf("none", files({ "/etc/resolv.conf": stub }))).toBe(
      "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n",
    );
    expect(await resolvConf("none", files({}))).toBe("nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n");
  });
});

describe("a step's /etc/hosts and --add-host", () => {
  it("lists localhost with the sandbox's hostname, then each --add-host", () => {
    expect(hostsFile("buildkitsandbox", [parseExtraHost("registry.local:10.0.0.5"), parseExtraHost("v6=[fd00::1]")])).toBe(
      "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.5\tregistry.local\nfd00::1\tv6\n",
    );
  });

  it("refuses what is not NAME:IP, saying the form", () => {
    expect(() => parseExtraHost("registry.local")).toThrow(/--add-host registry.local: expected NAME:IP/);
    expect(() => parseExtraHost("h:not-an-ip")).toThrow(/expected NAME:IP/);
    expect(() => parseExtraHost("h:host-gateway")).toThrow(/expected NAME:IP/);
  });
});
