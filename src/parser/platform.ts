/** An `os/arch[/variant]` platform, as OCI and `--platform` spell it. */
export type Platform = {
  os: string;
  architecture: string;
  variant?: string;
};

const NODE_ARCH: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: "amd64" },
  arm64: { architecture: "arm64" },
  arm: { architecture: "arm", variant: "v7" },
  ia32: { architecture: "386" },
  ppc64: { architecture: "ppc64le" },
  s390x: { architecture: "s390x" },
  riscv64: { architecture: "riscv64" },
};

export function hostPlatform(): Platform {
  const arch = NODE_ARCH[process.arch] ?? { architecture: process.arch };
  return { os: "linux", ...arch };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== "").join("/");
}

export function parsePlatform(text: string): Platform | undefined {
  const parts = text.trim().toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** The automatic platform ARGs BuildKit defines (BUILDPLATFORM, TARGETOS, ...). */
export function platformArgs(build: Platform, target: Platform): Record<string, string> {
  return {
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? "",
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? "",
  };
}
