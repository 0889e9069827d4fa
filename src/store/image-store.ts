import { mkdir, readFile, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { BlobInfo } from "../content/content.js";
import { LocalContentStore } from "../content/local.js";
import { TbuildError, errnoCode, ioError } from "../errors.js";
import { Annotation, MediaType, isIndexMediaType } from "../oci/media-types.js";
import { parseJson } from "../oci/parse-json.js";
import { formatPlatform, hostPlatform, platformMatches } from "../oci/platform.js";
import { familiarReference, normalizeName, parseReference } from "../oci/reference.js";
import {
  imageConfigSchema,
  indexSchema,
  layoutFileSchema,
  manifestSchema,
  type Descriptor,
  type ImageConfig,
  type Index,
  type Manifest,
  type Platform,
} from "../oci/schemas.js";
import { writeAtomic } from "../atomic-write.js";
import { digestOf } from "../oci/digest.js";
import { withFileLock } from "../file-lock.js";
import { defaultStoreRoot } from "./root.js";
import { hasBlob, readBlob, writeBlob } from "../content/blob-io.js";

/** One index.json entry: a tag (or an untagged image) and what it points at. */
export interface ImageRecord {
  /** Fully qualified name (`docker.io/library/busybox:latest`), undefined if untagged. */
  name: string | undefined;
  descriptor: Descriptor;
}

/** An image read back from the store; for an index, the manifest chosen for `platform`. */
export interface ResolvedImage {
  name: string | undefined;
  /** What index.json (or the digest asked for) points at: a manifest or an index. */
  descriptor: Descriptor;
  index: Index | undefined;
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
}

export interface PutImageOptions {
  /** The config object, or its exact bytes when they must keep a digest. */
  config: ImageConfig | Uint8Array;
  /** Layer descriptors (mediaType, digest, size), already in the content store. */
  layers: Descriptor[];
  /** Tag(s) to give the image; none leaves it untagged (listed as <none>). */
  name?: string | string[];
  annotations?: Record<string, string>;
}

const INDEX_FILE = "index.json";
const LAYOUT_FILE = "oci-layout";

/**
 * The local image store: an OCI image layout (`oci-layout`, `index.json`, `blobs/`)
 * sharing its root with the content store. Tags are `org.opencontainers.image.ref.name`
 * annotations holding the fully qualified reference, so `skopeo inspect
 * oci:<root>:docker.io/library/busybox:latest` reads what tbuild stored. index.json is
 * updated read-modify-write under a lock file and replaced atomically.
 */
export class ImageStore {
  readonly content: LocalContentStore;

  private constructor(readonly root: string) {
    this.content = new LocalContentStore(root);
  }

  /** Opens (creating if needed) the store at `root`, or the default root. */
  static async open(root: string = defaultStoreRoot()): Promise<ImageStore> {
    // Absolute from here on: RUN's helpers mount and chdir under it, elsewhere than the caller's cwd.
    const store = new ImageStore(resolve(root));
    await store.init();
    return store;
  }

  private get lockPath(): string {
    return join(this.root, `${INDEX_FILE}.lock`);
  }

  private async init(): Promise<void> {
    try {
      // A new store is the user's alone (0700), as Docker's and BuildKit's are: its build
      // scratch and snapshots hold image trees, setuid files included.
      await mkdir(this.root, { recursive: true, mode: 0o700 });
      await mkdir(join(this.root, "blobs", "sha256"), { recursive: true });
    } catch (e) {
      throw ioError(e, `creating the image store at ${this.root}`);
    }
    const layout = await readFile(join(this.root, LAYOUT_FILE)).catch((e: unknown) => {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw ioError(e, `reading ${join(this.root, LAYOUT_FILE)}`);
    });
    if (layout !== undefined) {
      const parsed = parseJson(layoutFileSchema, layout, `${LAYOUT_FILE} in ${this.root}`);
      if (parsed.imageLayoutVersion !== "1.0.0") {
        throw new TbuildError("failed-precondition", `${this.root} is an OCI layout version ${parsed.imageLayoutVersion}, tbuild reads 1.0.0`, {
          hint: "choose another store with --root or TBUILD_ROOT",
        });
      }
      return;
    }
    await withFileLock(this.lockPath, async () => {
      await writeAtomic(join(this.root, LAYOUT_FILE), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      if ((await this.readIndexFile()) === undefined) await this.writeIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    });
  }

  private async readIndexFile(): Promise<Index | undefined> {
    const path = join(this.root, INDEX_FILE);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw ioError(e, `reading ${path}`);
    }
    return parseJson(indexSchema, bytes, `${INDEX_FILE} in ${this.root}`);
  }

  /** The store's index.json. Reads need no lock: writers replace the file atomically. */
  async readIndex(): Promise<Index> {
    return (await this.readIndexFile()) ?? { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  }

  private async writeIndex(index: Index): Promise<void> {
    await writeAtomic(join(this.root, INDEX_FILE), JSON.stringify(index, null, 2) + "\n");
  }

  /**
   * Read-modify-write of index.json under the store lock. An index that comes out the
   * same (a rebuild tagging the image the tag already names) is not written again.
   */
  async updateIndex<T>(fn: (index: Index) => Promise<T> | T): Promise<T> {
    return withFileLock(this.lockPath, async () => {
      const index = await this.readIndex();
      const before = JSON.stringify(index);
      const result = await fn(index);
      if (JSON.stringify(index) !== before) await this.writeIndex(index);
      return result;
    });
  }

  /**
   * Stores a manifest, index or config that the caller names in index.json under the
   * same hold of the store lock. One already stored is not written again (an ingest
   * file and its fsync on every no-change rebuild): GC, which needs the lock, sees it
   * named before it could look at it. It is touched, as a rewrite would have, so
   * `prune --keep-storage` still counts it as just made once it is untagged.
   */
  private async writeIndexed(bytes: Uint8Array): Promise<BlobInfo> {
    const digest = digestOf(bytes);
    if ((await this.content.info(digest))?.size === bytes.length) {
      const now = new Date();
      await utimes(this.content.blobPath(digest), now, now).catch(() => undefined);
      return { digest, size: bytes.length };
    }
    return writeBlob(this.content, bytes);
  }

  /** Holds the store lock without changing index.json (for GC's mark and sweep). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(this.lockPath, fn);
  }

  async listImages(): Promise<ImageRecord[]> {
    const index = await this.readIndex();
    return index.manifests.map((d) => ({ name: d.annotations?.[Annotation.refName], descriptor: d }));
  }

  /**
   * Finds an image by name (`busybox`, `me/app:1`, `name@sha256:...`), by manifest digest,
   * or by a unique hex prefix of a stored image's digest (12 characters or more).
   */
  async resolve(nameOrDigest: string, opts: { platform?: Partial<Platform> } = {}): Promise<ResolvedImage> {
    const { name, descriptor } = await this.find(nameOrDigest);
    const top = await this.readManifestOrIndex(descriptor);
    if (top.kind === "manifest") {
      const config = await this.readConfig(top.manifest);
      return { name, descriptor, index: undefined, manifestDescriptor: descriptor, manifest: top.manifest, config };
    }
    const chosen = await this.choosePlatform(top.index, opts.platform ?? {}, nameOrDigest);
    const child = await this.readManifestOrIndex(chosen);
    if (child.kind !== "manifest") {
      throw new TbuildError("not-implemented", `${nameOrDigest}: nested image indexes are not supported`);
    }
    return { name, descriptor, index: top.index, manifestDescriptor: chosen, manifest: child.manifest, config: await this.readConfig(child.manifest) };
  }

  /** The index.json entry (or stored blob) that a name or digest refers to. */
  async find(nameOrDigest: string): Promise<ImageRecord> {
    const images = await this.listImages();
    const bareHex = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(nameOrDigest)?.[1];
    if (bareHex !== undefined) {
      const matches = images.filter((i) => i.descriptor.digest.startsWith(`sha256:${bareHex}`));
      const digests = new Set(matches.map((m) => m.descriptor.digest));
      if (digests.size > 1) throw new TbuildError("invalid-argument", `'${nameOrDigest}' matches more than one image in ${this.root}`, { hint: "give more digest characters" });
      const first = matches[0];
      if (first !== undefined) return { name: matches.length === 1 ? first.name : undefined, descriptor: first.descriptor };
      if (bareHex.length === 64) return { name: undefined, descriptor: await this.describeStored(`sha256:${bareHex}`, nameOrDigest) };
    }
    const ref = parseReference(nameOrDigest);
    if (ref.digest !== undefined) {
      const byDigest = images.find((i) => i.descriptor.digest === ref.digest);
      return { name: undefined, descriptor: byDigest?.descriptor ?? (await this.describeStored(ref.digest, nameOrDigest)) };
    }
    const full = normalizeName(nameOrDigest);
    const hit = images.find((i) => i.name === full);
    if (hit === undefined) {
      throw new TbuildError("not-found", `image '${nameOrDigest}' not found in ${this.root}`, {
        hint: "run 'tbuild images' to list stored images, or pull or build it first",
      });
    }
    return hit;
  }

  /** A descriptor for a manifest or index blob that is stored but not in index.json. */
  private async describeStored(digest: string, asked: string): Promise<Descriptor> {
    const bytes = await readBlob(this.content, digest).catch((e: unknown) => {
      if (e instanceof TbuildError && e.category === "not-found") {
        throw new TbuildError("not-found", `image '${asked}' not found in ${this.root}`, { hint: "run 'tbuild images' to list stored images" });
      }
      throw e;
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new TbuildError("invalid-argument", `${digest} in ${this.root} is not an image manifest or index (a layer or config blob?)`, {
        hint: "name an image by its tag or by its manifest digest ('tbuild images --digests')",
      });
    }
    const mediaType = typeof parsed === "object" && parsed !== null && "mediaType" in parsed && typeof parsed.mediaType === "string" ? parsed.mediaType : undefined;
    const isIndex = isIndexMediaType(mediaType) || (typeof parsed === "object" && parsed !== null && "manifests" in parsed);
    return { mediaType: mediaType ?? (isIndex ? MediaType.ociIndex : MediaType.ociManifest), digest, size: bytes.length };
  }

  async readManifestOrIndex(desc: Descriptor): Promise<{ kind: "manifest"; manifest: Manifest } | { kind: "index"; index: Index }> {
    const bytes = await readBlob(this.content, desc.digest);
    const what = `manifest ${desc.digest} in ${this.root}`;
    if (isIndexMediaType(desc.mediaType)) return { kind: "index", index: parseJson(indexSchema, bytes, what) };
    return { kind: "manifest", manifest: parseJson(manifestSchema, bytes, what) };
  }

  async readConfig(manifest: Manifest): Promise<ImageConfig> {
    return parseJson(imageConfigSchema, await readBlob(this.content, manifest.config.digest), `image config ${manifest.config.digest} in ${this.root}`);
  }

  private async choosePlatform(index: Index, asked: Partial<Platform>, name: string): Promise<Descriptor> {
    // A partial platform (no os or architecture) means this machine's.
    const want = asked.os !== undefined && asked.architecture !== undefined ? (asked as Platform) : hostPlatform();
    const matches = index.manifests.filter((m) => m.platform !== undefined && platformMatches(want, m.platform));
    for (const m of matches) if (await hasBlob(this.content, m.digest)) return m;
    const have = index.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : "unknown")).join(", ");
    throw new TbuildError("not-found", `image '${name}' has no ${formatPlatform(want)} manifest stored locally (it has: ${have})`, {
      hint: "pull it for your platform, or pass the platform you want",
    });
  }

  /** Points `name` at `desc`, replacing whatever the name pointed at before. */
  async tag(desc: Descriptor, name: string): Promise<void> {
    const full = normalizeName(name);
    if (parseReference(full).digest !== undefined) throw new TbuildError("invalid-argument", `cannot tag as '${name}': a tag may not contain a digest`);
    await this.updateIndex(async (index) => {
      if (!(await hasBlob(this.content, desc.digest))) {
        throw new TbuildError("not-found", `cannot tag ${desc.digest} as ${name}: the manifest is not in ${this.root}`);
      }
      const { annotations: _old, ...rest } = desc;
      const annotations = { ...(desc.annotations ?? {}), [Annotation.refName]: full };
      // An untagged entry for the same image is superseded by the tag.
      index.manifests = index.manifests.filter((d) => {
        const n = d.annotations?.[Annotation.refName];
        return n !== full && !(n === undefined && d.digest === desc.digest);
      });
      index.manifests.push({ ...rest, annotations });
    });
  }

  /** Removes a tag (or an untagged image given by digest); returns what it pointed at. */
  async untag(nameOrDigest: string): Promise<Descriptor> {
    const found = await this.find(nameOrDigest);
    return this.updateIndex((index) => {
      const before = index.manifests.length;
      index.manifests = index.manifests.filter((d) =>
        found.name !== undefined ? d.annotations?.[Annotation.refName] !== found.name : d.digest !== found.descriptor.digest,
      );
      if (index.manifests.length === before) throw new TbuildError("not-found", `image '${nameOrDigest}' is not tagged in ${this.root}`);
      return found.descriptor;
    });
  }

  /**
   * Writes config and manifest for already-stored layers and records the image in
   * index.json (tagged or not). Blobs are re-checked under the lock so a concurrent
   * prune cannot leave the new entry pointing at deleted content.
   */
  async putImage(opts: PutImageOptions): Promise<Descriptor> {
    const configBytes = opts.config instanceof Uint8Array ? opts.config : Buffer.from(JSON.stringify(opts.config));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: "", size: configBytes.length },
      layers: opts.layers,
      ...(opts.annotations !== undefined ? { annotations: opts.annotations } : {}),
    };
    const names = opts.name === undefined ? [] : Array.isArray(opts.name) ? opts.name : [opts.name];
    const fullNames = names.map(normalizeName);
    return this.updateIndex(async (index) => {
      manifest.config.digest = (await this.writeIndexed(configBytes)).digest;
      for (const layer of opts.layers) {
        if (!(await hasBlob(this.content, layer.digest))) {
          throw new TbuildError("not-found", `layer ${layer.digest} is not in ${this.root}`, { hint: "ingest layers into the content store before writing the image" });
        }
      }
      const info: BlobInfo = await this.writeIndexed(Buffer.from(JSON.stringify(manifest)));
      const desc: Descriptor = { mediaType: MediaType.ociManifest, digest: info.digest, size: info.size };
      index.manifests = index.manifests.filter((d) => {
        const n = d.annotations?.[Annotation.refName];
        return n === undefined ? d.digest !== desc.digest : !fullNames.includes(n);
      });
      if (fullNames.length === 0) index.manifests.push(desc);
      for (const n of fullNames) index.manifests.push({ ...desc, annotations: { [Annotation.refName]: n } });
      return desc;
    });
  }

  /**
   * Writes a multi-platform image: an OCI index over stored manifests (each
   * descriptor carrying its platform), named like putImage. The manifests' own
   * untagged entries go: they live on through the index.
   */
  async putIndex(opts: { manifests: Descriptor[]; name?: string | string[]; annotations?: Record<string, string> }): Promise<Descriptor> {
    const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: opts.manifests, ...(opts.annotations === undefined ? {} : { annotations: opts.annotations }) };
    const names = (opts.name === undefined ? [] : Array.isArray(opts.name) ? opts.name : [opts.name]).map(normalizeName);
    return this.updateIndex(async (top) => {
      for (const m of opts.manifests) {
        if (!(await hasBlob(this.content, m.digest))) throw new TbuildError("not-found", `manifest ${m.digest} is not in ${this.root}`);
      }
      const info = await this.writeIndexed(Buffer.from(JSON.stringify(index)));
      const desc: Descriptor = { mediaType: MediaType.ociIndex, digest: info.digest, size: info.size };
      const members = new Set(opts.manifests.map((m) => m.digest));
      top.manifests = top.manifests.filter((d) => {
        const n = d.annotations?.[Annotation.refName];
        return n === undefined ? !members.has(d.digest) && d.digest !== desc.digest : !names.includes(n);
      });
      if (names.length === 0) top.manifests.push(desc);
      for (const n of names) top.manifests.push({ ...desc, annotations: { [Annotation.refName]: n } });
      return desc;
    });
  }
}

/** Opens the image store at `root` (default: $TBUILD_ROOT or the XDG data dir). */
export function openStore(root?: string): Promise<ImageStore> {
  return ImageStore.open(root);
}

/** Display form of a stored name: `busybox:latest` for docker.io/library/busybox:latest. */
export function displayName(name: string | undefined): string {
  if (name === undefined) return "<none>";
  try {
    return familiarReference(parseReference(name));
  } catch {
    return name;
  }
}
