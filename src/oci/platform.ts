import { TbuildError } from "../errors.js";
import type { Descriptor, Platform } from "./schemas.js";

/** Node's `process.arch` in GOARCH spelling, which image platforms use. */
const GOARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
  mips: "mips",
  mipsel: "mipsle",
};

/** Parses `os/arch[/variant]`, e.g. `linux/arm64` or `linux/arm/v7`. */
export function parsePlatform(s: string): Platform {
  const parts = s.split("/");
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || os === "" || architecture === "" || variant === "") {
    throw new TbuildError("invalid-argument", `invalid platform '${s}'`, { hint: "use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7" });
  }
  return normalize({ os: os ?? "", architecture: architecture ?? "", ...(variant === undefined ? {} : { variant }) });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ""}`;
}

/** The platform this process runs on, as `docker pull` would default to. */
export function hostPlatform(): Platform {
  const architecture = GOARCH[process.arch] ?? process.arch;
  if (architecture === "arm") {
    const v = (process.config.variables as { arm_version?: string }).arm_version;
    return { os: "linux", architecture, variant: `v${v ?? "7"}` };
  }
  return normalize({ os: process.platform === "win32" ? "windows" : "linux", architecture });
}

/** containerd's normalisation: arm64 is v8 unless said otherwise, so `linux/arm64` matches `linux/arm64/v8`. */
function normalize(p: Platform): Platform {
  if (p.architecture === "aarch64") return normalize({ ...p, architecture: "arm64" });
  if (p.architecture === "x86_64" || p.architecture === "x86-64") return { ...p, architecture: "amd64" };
  if (p.architecture === "arm64" && p.variant === "v8") {
    const { variant: _drop, ...rest } = p;
    return rest;
  }
  return p;
}

export function platformMatches(want: Platform, have: Platform): boolean {
  const a = normalize(want);
  const b = normalize(have);
  if (a.os !== b.os || a.architecture !== b.architecture) return false;
  return a.variant === undefined || a.variant === b.variant;
}

/** Picks the index entry for `want`; entries without a platform (attestations) never match. */
export function selectManifest(manifests: readonly Descriptor[], want: Platform): Descriptor | undefined {
  return manifests.find((m) => m.platform !== undefined && platformMatches(want, m.platform));
}
