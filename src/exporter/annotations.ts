/**
 * `--annotation` in buildx's spelling: `[TYPE[,TYPE...]:]KEY=VALUE`, where a TYPE is
 * `manifest` (the default), `index`, `manifest-descriptor` or `index-descriptor`, each
 * optionally for one platform (`manifest[linux/arm64]:KEY=VALUE`). Checked before the
 * build: as in buildx, asking for a part the build does not make (an index of a
 * single-platform image) is an error, not ignored.
 */
import { TbuildError } from "../errors.js";
import { formatPlatform, parsePlatform } from "../oci/platform.js";

interface Entry {
  key: string;
  value: string;
  /** Only the image of this platform (normalised `os/arch[/variant]`). */
  platform?: string;
}

export interface ImageAnnotations {
  /** On each platform's image manifest. */
  manifest: Entry[];
  /** On the image index (several platforms). */
  index: Record<string, string>;
  /** On each manifest's descriptor inside the index. */
  manifestDescriptor: Entry[];
}

const TYPES = ["manifest", "index", "manifest-descriptor", "index-descriptor"] as const;
const PREFIX = /^([a-z-]+(?:\[[^\]]*\])?(?:,[a-z-]+(?:\[[^\]]*\])?)*):/;

export function parseAnnotations(specs: readonly string[], platforms: number): ImageAnnotations {
  const out: ImageAnnotations = { manifest: [], index: {}, manifestDescriptor: [] };
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new TbuildError("invalid-argument", `--annotation ${spec}: write [TYPE:]KEY=VALUE`, { hint: "e.g. --annotation org.opencontainers.image.title=app or --annotation index:KEY=VALUE" });
    const left = spec.slice(0, eq);
    const value = spec.slice(eq + 1);
    const prefix = PREFIX.exec(left);
    const key = prefix === null ? left : left.slice(prefix[0].length);
    if (key === "") throw new TbuildError("invalid-argument", `--annotation ${spec}: the key is empty`, { hint: "write [TYPE:]KEY=VALUE" });
    const targets = prefix === null ? ["manifest"] : prefix[1]!.split(",");
    for (const target of targets) {
      const m = /^([a-z-]+)(?:\[([^\]]*)\])?$/.exec(target)!;
      const type = m[1]!;
      const platform = m[2] === undefined ? undefined : formatPlatform(parsePlatform(m[2]));
      if (!(TYPES as readonly string[]).includes(type)) throw new TbuildError("invalid-argument", `--annotation ${spec}: unknown type '${type}'`, { hint: `types are ${TYPES.join(", ")}` });
      if (type === "index-descriptor") {
        throw new TbuildError("not-implemented", `--annotation ${spec}: index-descriptor annotations (on the descriptor in an OCI layout's index.json) are not implemented`, { hint: "annotate the index itself: --annotation index:KEY=VALUE" });
      }
      if (type !== "manifest" && platforms === 1) {
        throw new TbuildError("invalid-argument", `--annotation ${spec}: a single-platform build makes no image index to annotate`, { hint: "annotate the manifest (--annotation KEY=VALUE), or build several --platform values" });
      }
      if (type === "index") {
        if (platform !== undefined) throw new TbuildError("invalid-argument", `--annotation ${spec}: the index belongs to no one platform`, { hint: "write index:KEY=VALUE" });
        out.index[key] = value;
      } else (type === "manifest" ? out.manifest : out.manifestDescriptor).push({ key, value, ...(platform === undefined ? {} : { platform }) });
    }
  }
  return out;
}

/** The annotations of `list` that apply to the image of `platform`, or undefined when none. */
export function annotationsFor(list: readonly Entry[], platform: string): Record<string, string> | undefined {
  const mine = list.filter((e) => e.platform === undefined || e.platform === platform);
  return mine.length === 0 ? undefined : Object.fromEntries(mine.map((e) => [e.key, e.value]));
}
