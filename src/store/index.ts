// The local image store: an OCI layout with tags, GC, export and load.
export { ImageStore, openStore, displayName } from "./image-store.js";
export type { ImageRecord, ResolvedImage, PutImageOptions } from "./image-store.js";
export { defaultStoreRoot } from "./root.js";
export { gc, markReachable, diskUsage } from "./gc.js";
export type { GcOptions, GcResult, GcRootProvider } from "./gc.js";
export { imageBlobs } from "./blobs.js";
export { exportImage, exporters } from "./export/index.js";
export type { Exporter, ExportOptions, ExportResult } from "./export/index.js";
export { loadArchive } from "./load.js";
export type { LoadedImage } from "./load.js";
