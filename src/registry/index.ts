// The registry client: OCI distribution pull and push, auth and credentials.
export { fetchImage, type FetchOptions, type PullResult, type PullEvent } from "./pull.js";
export { uploadImage, type PushOptions, type PushImageOptions, type PushSource, type PushResult, type PushEvent } from "./push.js";
export { RegistrySession, RegistryTransport, type RegistryOptions } from "./transport.js";
export { RepositoryClient, type RawManifest, type UploadOptions, type PushOutcome } from "./client.js";
export { RegistryError, type RegistryDiagnostic } from "./errors.js";
export { dockerCredentials, dockerConfigPath, storeCredential, eraseCredential, type Credential, type CredentialSource } from "./credentials.js";
export { parsePlatform, formatPlatform, hostPlatform } from "../oci/platform.js";
