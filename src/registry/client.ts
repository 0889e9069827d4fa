import type { ContentInfo, ContentIngester, ContentReader } from "../content/content.js";
import { TbuildError } from "../errors.js";
import { digestOf, isDigest } from "../oci/digest.js";
import { MediaType, isIndexMediaType, isManifestMediaType } from "../oci/media-types.js";
import { repositoryScope } from "./auth.js";
import { RegistryError, displayUrl } from "./errors.js";
import { withRetry } from "./retry.js";
import type { RegistryTransport, Response } from "./transport.js";
import { writeBlob } from "../content/blob-io.js";

/** Everything tbuild can read, best first, as the Accept header of manifest requests. */
const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(", ");
/** The distribution spec's suggested minimum a registry accepts; more is refused, not buffered. */
const MANIFEST_LIMIT = 4 * 1024 * 1024;

export interface RawManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** How large blobs are uploaded: one PUT up to `monolithicLimit`, else PATCH chunks of `chunkSize`. */
export interface UploadOptions {
  monolithicLimit?: number;
  chunkSize?: number;
  /** Repositories on the same registry that already hold the blob, tried as mount sources. */
  mountFrom?: readonly string[];
}

export type PushOutcome = "exists" | "mounted" | "uploaded";

const MIB = 1024 * 1024;

/** Distribution-spec calls for one repository; every byte read is checked against its digest. */
export class RepositoryClient {
  private readonly pull: string[];
  private readonly push: string[];

  constructor(
    readonly transport: RegistryTransport,
    readonly repository: string,
  ) {
    this.pull = [repositoryScope(repository, "pull")];
    this.push = [repositoryScope(repository, "pull,push")];
  }

  private get name(): string {
    return `${this.transport.registry}/${this.repository}`;
  }

  /** Fetches a manifest or index by tag or digest, verifying the digest. */
  async getManifest(reference: string): Promise<RawManifest> {
    const what = `pull manifest ${this.name}${isDigest(reference) ? "@" : ":"}${reference}`;
    return withRetry(async () => {
      const res = await this.transport.once(
        { method: "GET", url: `/v2/${this.repository}/manifests/${reference}`, scopes: this.pull, ok: [200], what, headers: { accept: MANIFEST_ACCEPT } },
        MANIFEST_LIMIT,
      );
      const digest = digestOf(res.body);
      const claimed = header(res.headers["docker-content-digest"]);
      const expected = isDigest(reference) ? reference : claimed !== undefined && isDigest(claimed) ? claimed : undefined;
      if (expected !== undefined && expected !== digest) {
        // Most likely damage in transit; a registry that keeps doing this fails after the retries.
        throw new RegistryError("unavailable", `${what}: the manifest received has digest ${digest}, expected ${expected}`, { temporary: true });
      }
      return { digest, mediaType: manifestMediaType(res.body, header(res.headers["content-type"]), what), bytes: res.body };
    }, this.transport.options);
  }

  /** The blob's size if the repository has it (one attempt: callers retry). */
  async blobSize(digest: string, scopes = this.pull): Promise<number | undefined> {
    const res = await this.transport.once({ method: "HEAD", url: `/v2/${this.repository}/blobs/${digest}`, scopes, ok: [200, 404], what: `check blob ${digest} in ${this.name}` });
    if (res.status === 404) return undefined;
    const length = Number(header(res.headers["content-length"]));
    return Number.isFinite(length) ? length : undefined;
  }

  /**
   * Streams a blob into the content store unless it is already there. The store verifies
   * digest and size while writing; bytes that do not match (a truncated or corrupted
   * transfer) are discarded and the download retried.
   */
  async fetchBlob(store: ContentIngester & ContentInfo, desc: { digest: string; size: number }): Promise<"present" | "downloaded"> {
    if ((await store.info(desc.digest))?.size === desc.size) return "present";
    const what = `pull blob ${desc.digest} from ${this.name}`;
    await withRetry(async () => {
      const res = await this.transport.open({ method: "GET", url: `/v2/${this.repository}/blobs/${desc.digest}`, scopes: this.pull, ok: [200], what });
      try {
        await writeBlob(store, res.body, { digest: desc.digest, size: desc.size });
      } catch (e) {
        const transfer = res.body.errored;
        res.body.destroy();
        // A broken transfer is retried; the store only saw its effect (a premature end).
        if (transfer instanceof RegistryError) throw transfer;
        if (e instanceof RegistryError || !(e instanceof TbuildError) || e.category !== "failed-precondition") throw e;
        throw new RegistryError("unavailable", `${what}: the bytes received from ${displayUrl(res.url)} do not match the digest (${e.message})`, {
          temporary: true,
          hint: "the transfer was corrupted or the registry serves damaged data",
        });
      }
    }, this.transport.options);
    return "downloaded";
  }

  /**
   * Pushes one blob from the store: HEAD first (also before every retry, so a blob the
   * registry accepted is never sent twice), then a cross-repository mount when a source is
   * known, then a monolithic or chunked upload streamed from disk.
   */
  async pushBlob(store: ContentReader, desc: { digest: string; size: number }, o: UploadOptions = {}): Promise<PushOutcome> {
    return withRetry(async () => {
      if ((await this.blobSize(desc.digest, this.push)) !== undefined) return "exists";
      let location: string | undefined;
      for (const from of (o.mountFrom ?? []).filter((r) => r !== this.repository).slice(0, 3)) {
        const mounted = await this.tryMount(desc.digest, from);
        if (mounted === true) return "mounted";
        location = mounted;
        if (location !== undefined) break;
      }
      location ??= await this.startUpload();
      const limit = o.monolithicLimit ?? 16 * MIB;
      const committed = desc.size <= limit ? await this.putWhole(store, desc, location) : await this.putChunked(store, desc, location, o.chunkSize ?? 16 * MIB);
      const claimed = header(committed.headers["docker-content-digest"]);
      if (claimed !== undefined && claimed !== desc.digest) {
        throw new RegistryError("internal", `push blob ${desc.digest} to ${this.name}: the registry stored it as ${claimed}`);
      }
      return "uploaded";
    }, this.transport.options);
  }

  /**
   * Asks the registry to link a blob from another repository. True when mounted; else the
   * upload session the registry opened instead (202), or undefined when the mount attempt
   * failed outright, which some registries do, so a plain upload follows.
   */
  private async tryMount(digest: string, from: string): Promise<true | string | undefined> {
    const scopes = [...this.push, repositoryScope(from, "pull")];
    const url = `/v2/${this.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    try {
      const res = await this.transport.once({ method: "POST", url, scopes, ok: [201, 202], what: `mount blob ${digest} from ${from} into ${this.name}` });
      if (res.status === 201) return true;
      return locationOf(res);
    } catch (e) {
      if (e instanceof RegistryError && e.temporary) throw e;
      return undefined;
    }
  }

  private async startUpload(): Promise<string> {
    const res = await this.transport.once({ method: "POST", url: `/v2/${this.repository}/blobs/uploads/`, scopes: this.push, ok: [202], what: `start upload to ${this.name}` });
    return locationOf(res);
  }

  private async putWhole(store: ContentReader, desc: { digest: string; size: number }, location: string): Promise<Response> {
    const url = withDigest(location, desc.digest);
    const res = await this.transport.open({
      method: "PUT",
      url,
      scopes: this.push,
      ok: [201],
      what: `push blob ${desc.digest} to ${this.name}`,
      headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
      body: () => store.openRead(desc.digest),
    });
    res.body.resume();
    return res;
  }

  private async putChunked(store: ContentReader, desc: { digest: string; size: number }, location: string, chunkSize: number): Promise<Response> {
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new TbuildError("invalid-argument", `chunk size ${chunkSize} must be a positive number of bytes`);
    let next = location;
    for (let start = 0; start < desc.size; start += chunkSize) {
      const end = Math.min(desc.size, start + chunkSize) - 1;
      const res = await this.transport.open({
        method: "PATCH",
        url: next,
        scopes: this.push,
        ok: [202],
        what: `push blob ${desc.digest} to ${this.name} (bytes ${start}-${end})`,
        headers: { "content-type": "application/octet-stream", "content-length": String(end - start + 1), "content-range": `${start}-${end}` },
        body: () => store.openRead(desc.digest, { start, end }),
      });
      res.body.resume();
      next = locationOf(res);
    }
    const res = await this.transport.open({
      method: "PUT",
      url: withDigest(next, desc.digest),
      scopes: this.push,
      ok: [201],
      what: `commit blob ${desc.digest} in ${this.name}`,
      headers: { "content-length": "0" },
    });
    res.body.resume();
    return res;
  }

  /** Uploads a manifest under a tag or its digest; returns the digest the registry confirmed. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const digest = digestOf(bytes);
    const res = await this.transport.call({
      method: "PUT",
      url: `/v2/${this.repository}/manifests/${reference}`,
      scopes: this.push,
      ok: [201],
      what: `push manifest ${this.name}${isDigest(reference) ? "@" : ":"}${reference}`,
      headers: { "content-type": mediaType },
      body: () => bytes,
    });
    const claimed = header(res.headers["docker-content-digest"]);
    if (claimed !== undefined && claimed !== digest) {
      throw new RegistryError("internal", `push manifest to ${this.name}: the registry stored it as ${claimed}, not ${digest}`, {
        hint: "the registry rewrote the manifest; pull by tag to see what it holds",
      });
    }
    return digest;
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function locationOf(res: { headers: Response["headers"]; url: string }): string {
  const loc = header(res.headers["location"]);
  if (loc === undefined || loc === "") throw new RegistryError("internal", `${displayUrl(res.url)} started an upload without a Location header`);
  return new URL(loc, res.url).toString();
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u.toString();
}

/** The media type from Content-Type, else the body's own `mediaType`, else its shape. */
function manifestMediaType(bytes: Buffer, contentType: string | undefined, what: string): string {
  const fromHeader = contentType?.split(";")[0]?.trim();
  if (isManifestMediaType(fromHeader) || isIndexMediaType(fromHeader)) return fromHeader as string;
  let body: { mediaType?: unknown; manifests?: unknown; config?: unknown; schemaVersion?: unknown };
  try {
    body = JSON.parse(bytes.toString("utf8")) as typeof body;
  } catch {
    throw new RegistryError("failed-precondition", `${what}: the manifest is not JSON`);
  }
  if (typeof body.mediaType === "string" && (isManifestMediaType(body.mediaType) || isIndexMediaType(body.mediaType))) return body.mediaType;
  if (body.schemaVersion === 1) {
    throw new RegistryError("failed-precondition", `${what}: this is a Docker schema 1 manifest, which tbuild does not read`, {
      hint: "re-push the image with a current tool (docker, skopeo, crane) to convert it to schema 2",
    });
  }
  if (Array.isArray(body.manifests)) return MediaType.ociIndex;
  if (body.config !== undefined) return MediaType.ociManifest;
  throw new RegistryError("failed-precondition", `${what}: unsupported manifest type '${fromHeader ?? "none"}'`);
}
