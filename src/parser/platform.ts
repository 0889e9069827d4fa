import { formatPlatform } from "../oci/platform.js";
import type { Platform } from "../oci/schemas.js";

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
