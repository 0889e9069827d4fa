/**
 * type=tar: the image's root filesystem, flattened, as one tar stream (BuildKit's
 * `--output type=tar`, and `-o -` on standard output). Layers are applied in order into
 * a staging directory in the store's scratch space (as type=local does), then the
 * tree is written as a deterministic tar by the differ, which keeps the image's owners,
 * modes, xattrs and hard links; as a normal user both happen in the user namespace, so
 * the owners are the image's, not the subordinate ids they have on this host.
 */
import { mkdir, mkdtemp } from "node:fs/promises";
import { join } from "node:path";

import { removeOwnedTree } from "../../userns/namespace.js";
import { diffIsolated } from "../../snapshotter/worker-client.js";
import type { Descriptor } from "../../oci/schemas.js";
import type { ImageStore, ResolvedImage } from "../image-store.js";
import { unpackPlatformTrees } from "./platform-trees.js";
import { writeStream } from "./tar-writer.js";
import type { Exporter, ExportOptions, ExportResult } from "./types.js";

export const tarExporter: Exporter = {
  type: "tar",
  async export(store: ImageStore, image: ResolvedImage, opts: ExportOptions): Promise<ExportResult> {
    const scratch = join(store.root, "tmp");
    await mkdir(scratch, { recursive: true, mode: 0o700 });
    const staging = await mkdtemp(join(scratch, "export-tar-"));
    let warnings: string[];
    try {
      warnings = await unpackPlatformTrees(store, image, opts.splitPlatforms === true, staging);
      await writeStream(opts.dest, diffIsolated({ driver: "native", upper: staging }));
    } finally {
      await removeOwnedTree(staging);
    }
    const { annotations: _a, ...descriptor }: Descriptor = image.manifestDescriptor;
    return { descriptor, dest: opts.dest, warnings };
  },
};
