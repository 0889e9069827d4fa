// The snapshotter's public surface, for the builder and the library entry.
export { LocalSnapshotter, openSnapshotter } from "./snapshotter.js";
export { chooseDriver, overlaySupported, snapshotDriver } from "./drivers/index.js";
export type { Snapshotter } from "./snapshotter.js";
export type { Mount, SnapshotInfo, SnapshotKind, Driver, DiffOptions, OpenOptions } from "./snapshotter.js";
export { applyLayer } from "./applier.js";
export type { ApplyOptions, ApplyResult, WhiteoutMode } from "./applier.js";
export { storeLayer, writeLayerTar, sourceDateEpochFromEnv } from "./differ.js";
export type { TarOptions } from "./differ.js";
export { compressor, decompressed, sniffCompression, layerMediaType } from "./compression.js";
export type { Compression } from "./compression.js";
export { isPrivileged, inUserNamespace, nsArgv, nsSpawn, nsRun } from "../userns/namespace.js";
export type { NsOptions } from "../userns/namespace.js";
export { UnsafeEntryError } from "./tar-path.js";
