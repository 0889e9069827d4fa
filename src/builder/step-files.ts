import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { TbuildError } from "../errors.js";

/** The hostname every RUN step gets in its own UTS namespace: BuildKit's. */
export const SANDBOX_HOSTNAME = "buildkitsandbox";

/** An `--add-host` entry: a name and the address it resolves to inside RUN. */
export interface ExtraHost {
  host: string;
  ip: string;
}

/** Parses `--add-host name:ip` (or `name=ip`, as docker's newer syntax; IPv6 addresses may be bracketed). */
export function parseExtraHost(text: string): ExtraHost {
  const m = /^([^:=\s]+)[:=]\[?([^\]\s]+)\]?$/.exec(text);
  const ip = m?.[2];
  if (m === null || ip === undefined || isIP(ip) === 0) {
    throw new TbuildError("invalid-argument", `--add-host ${text}: expected NAME:IP, e.g. --add-host registry.local:10.0.0.5`, {
      hint: ip === "host-gateway" ? "host-gateway needs a container network tbuild does not make; give the address" : "the address must be an IPv4 or IPv6 address",
    });
  }
  return { host: m[1]!, ip };
}

/** /etc/hosts as BuildKit writes it for a step, with the --add-host entries after. */
export function hostsFile(hostname: string, extra: readonly ExtraHost[]): string {
  const lines = [`127.0.0.1\tlocalhost ${hostname}`, "::1\tlocalhost ip6-localhost ip6-loopback", ...extra.map((e) => `${e.ip}\t${e.host}`)];
  return lines.join("\n") + "\n";
}

/** BuildKit's default external nameservers (IPv4 and IPv6), when no usable one is left. */
const FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"];

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1" || address === "0:0:0:0:0:0:0:1";
}

/**
 * The host's /etc/resolv.conf for a step. On the host's network it is used as is (a
 * loopback resolver such as systemd-resolved's 127.0.0.53 is reachable there). A step
 * with a network namespace of its own (--network=none) cannot reach the host's
 * loopback, so, as BuildKit does, loopback nameservers are dropped and, when none is
 * left, Google's public resolvers (IPv4 and IPv6) are written instead; systemd-resolved's upstream
 * list is preferred when the host's only nameserver is its stub.
 */
export async function resolvConf(network: "default" | "none" | "host", read: (p: string) => Promise<string> = (p) => readFile(p, "utf8")): Promise<string> {
  const main = await read("/etc/resolv.conf").catch(() => "");
  if (network !== "none") return main;
  const servers = (text: string) => [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
  const own = servers(main);
  const text = own.length === 1 && own[0] === "127.0.0.53" ? await read("/run/systemd/resolve/resolv.conf").catch(() => main) : main;
  const kept = text.split("\n").filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return m === null || !isLoopback(m[1]!);
  });
  const body = kept.join("\n").replace(/\n*$/, "\n");
  if (servers(body).length > 0) return body;
  return body.replace(/^\n$/, "") + FALLBACK_NAMESERVERS.map((s) => `nameserver ${s}\n`).join("");
}
