// The public library API: everything other tools may import from "tbuild".
export { TbuildError, isTbuildError, AbortError, isAbortError } from "./errors.js";
export type { ErrorCategory } from "./errors.js";
export * as oci from "./oci/index.js";
export { LocalContentStore } from "./content/local.js";
export { hasBlob, readBlob, writeBlob } from "./content/blob-io.js";
export type { BlobInfo, StoredBlob, ByteRange, ContentInfo, ContentReader, ContentWriter, ContentIngester, ContentManager, ContentStore } from "./content/content.js";
export { openStore, ImageStore, exportImage, loadArchive, gc } from "./store/index.js";
export type { ResolvedImage, ImageRecord, ExportOptions } from "./store/index.js";
export { pullImage, pushImage } from "./store/registry-transfer.js";
export type { PullOptions } from "./store/registry-transfer.js";
export { RegistrySession, RegistryError, dockerCredentials, storeCredential, eraseCredential } from "./registry/index.js";
export type { PullResult, PushOptions, PushResult, RegistryOptions, Credential, CredentialSource } from "./registry/index.js";
export { build } from "./builder/build.js";
export type { BuildOptions, BuildResult } from "./builder/build.js";
export type { OutputSpec } from "./exporter/exporter.js";
export type {
  BuildEvent,
  StepKind,
  StepStartEvent,
  StepCachedEvent,
  CacheMissEvent,
  StepDoneEvent,
  StepErrorEvent,
  StepCanceledEvent,
  StepLogEvent,
  StepStatusEvent,
  WarningEvent,
  SourceExcerpt,
} from "./events.js";
export { parseDockerfile, toJson, outline, DockerfileError } from "./parser/index.js";
export type { ParseResult, ParseOptions, Stage, Instruction } from "./parser/index.js";
export { openSnapshotter } from "./snapshotter/snapshotter.js";
