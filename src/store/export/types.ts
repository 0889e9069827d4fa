import type { Descriptor, Platform } from "../../oci/schemas.js";
import type { ImageStore, ResolvedImage } from "../image-store.js";

/** Options shared by all exporters; `type` picks the exporter (BuildKit's `--output type=...`). */
export interface ExportOptions {
  type: string;
  /** A file, a directory (type=local, or type=oci with tar=false), or "-" for stdout (oci, docker, tar). */
  dest: string;
  /** For type=oci: write a tar (default) or, with false, a layout directory. */
  tar?: boolean;
  /** Name recorded in the output; defaults to the name the image was resolved by. */
  name?: string;
  platform?: Partial<Platform>;
  /** type=local and tar of a multi-platform image: one tree per platform, in `os_arch[_variant]/` (BuildKit's layout). */
  splitPlatforms?: boolean;
}

export interface ExportResult {
  /** The root descriptor written (manifest or index). */
  descriptor: Descriptor;
  dest: string;
  /** What could not be reproduced exactly (type=local: device nodes without real root). */
  warnings?: string[];
}

/** One output format. Add a new one to the table in ./index.ts. */
export interface Exporter {
  readonly type: string;
  export(store: ImageStore, image: ResolvedImage, opts: ExportOptions): Promise<ExportResult>;
}
