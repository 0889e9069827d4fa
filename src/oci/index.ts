// The OCI vocabulary: media types, digests, schemas, references. Stateless.
export * from "./media-types.js";
export * from "./digest.js";
export * from "./schemas.js";
export * from "./parse-json.js";
export * from "./reference.js";
export * from "./layer.js";
