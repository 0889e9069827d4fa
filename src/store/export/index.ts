import { TbuildError } from "../../errors.js";
import type { ImageStore, ResolvedImage } from "../image-store.js";
import { dockerExporter } from "./docker.js";
import { localExporter } from "./local.js";
import { ociExporter } from "./oci.js";
import { tarExporter } from "./tar.js";
import type { Exporter, ExportOptions, ExportResult } from "./types.js";

export type { Exporter, ExportOptions, ExportResult } from "./types.js";
export { writeDockerArchive } from "./docker.js";

/** Every exporter by `type`. New formats are added here. */
export const exporters: Record<string, Exporter> = {
  [ociExporter.type]: ociExporter,
  [dockerExporter.type]: dockerExporter,
  [localExporter.type]: localExporter,
  [tarExporter.type]: tarExporter,
};

/** Writes a stored image (given by name, digest, or already resolved) to an output. */
export async function exportImage(store: ImageStore, image: string | ResolvedImage, opts: ExportOptions): Promise<ExportResult> {
  const exporter = exporters[opts.type];
  if (exporter === undefined) {
    throw new TbuildError("invalid-argument", `unknown export type '${opts.type}'`, { hint: `choose one of: ${Object.keys(exporters).join(", ")}` });
  }
  const resolved = typeof image === "string" ? await store.resolve(image, opts.platform === undefined ? {} : { platform: opts.platform }) : image;
  return exporter.export(store, resolved, opts);
}
