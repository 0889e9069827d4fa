import { shortDigest } from "../../oci/digest.js";
import { familiarReference, parseReference } from "../../oci/reference.js";
import { displayName, type ImageRecord, type ImageStore } from "../../store/image-store.js";
import type { Command } from "../command.js";
import { parseFlags } from "../args.js";
import { formatSize, relativeTime } from "../format.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";
import { imageFilter, type FilterableImage } from "../image-filters.js";
import { formatListing, type Listing } from "../template.js";

const HEADERS = { Repository: "REPOSITORY", Tag: "TAG", Digest: "DIGEST", ID: "IMAGE ID", CreatedAt: "CREATED AT", CreatedSince: "CREATED", Size: "SIZE" };
const TABLE = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}";
const TABLE_WITH_DIGESTS = "table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}";

const help = `  -q, --quiet      print only image IDs
      --format F   docker's Go-template subset: {{.Repository}}:{{.Tag}}, {{.ID}}, {{.Digest}},
                   {{.CreatedAt}}, {{.CreatedSince}}, {{.Size}}, {{json .}}; 'table ...' adds
                   headers and aligns columns; 'json' prints one JSON object per image
      --digests    add a DIGEST column
      --no-trunc   full IDs (sha256:...), not their first 12 hex digits
  -f, --filter K=V only images that match (repeatable): reference=GLOB, dangling=true|false,
                   label=KEY[=VALUE], before=IMAGE, since=IMAGE`;

function createdTime(iso: string | undefined): number {
  return iso === undefined ? NaN : Date.parse(iso);
}

/** `2024-01-02 03:04:05 +0000 UTC`, docker's CreatedAt (always in UTC here). */
function createdAt(iso: string | undefined): string {
  const t = createdTime(iso);
  if (Number.isNaN(t)) return "N/A";
  return `${new Date(t).toISOString().slice(0, 19).replace("T", " ")} +0000 UTC`;
}

/** A stored name split docker's way: `ghcr.io/o/app:1` → `ghcr.io/o/app` and `1`; no name is `<none>` `<none>`. */
function repositoryAndTag(name: string | undefined): { Repository: string; Tag: string } {
  if (name === undefined) return { Repository: "<none>", Tag: "<none>" };
  const { tag, digest: _digest, ...bare } = parseReference(name);
  return { Repository: familiarReference(bare), Tag: tag ?? "<none>" };
}

/** The images as docker lists them: one row per name that `keep` accepts; the ID is the manifest (or index) digest, which tbuild's commands accept. */
async function listing(store: ImageStore, images: ImageRecord[], noTrunc: boolean, keep: (image: FilterableImage) => boolean): Promise<Listing> {
  const rows = [];
  for (const img of images) {
    const resolved = await store.resolve(img.descriptor.digest).catch(() => undefined);
    const names = repositoryAndTag(img.name);
    if (!keep({ repository: names.Repository, tag: names.Tag, labels: resolved?.config.config?.Labels ?? {}, created: createdTime(resolved?.config.created) })) continue;
    const size = resolved === undefined ? undefined : resolved.manifestDescriptor.size + resolved.manifest.config.size + resolved.manifest.layers.reduce((n, l) => n + l.size, 0);
    const digest = img.descriptor.digest;
    rows.push({
      ...names,
      Digest: digest,
      ID: noTrunc ? digest : shortDigest(digest),
      CreatedAt: createdAt(resolved?.config.created),
      CreatedSince: relativeTime(resolved?.config.created),
      Size: size === undefined ? "incomplete" : formatSize(size),
    });
  }
  return { headers: HEADERS, rows };
}

export const imagesCommand: Command = {
  name: "images",
  summary: "List images in the local store",
  usage: "tbuild images [--root DIR] [-q] [--format TEMPLATE|json] [--digests] [--no-trunc] [--filter KEY=VALUE]...",
  async run(argv) {
    const { values } = parseFlags(imagesCommand, {
      args: argv,
      options: { ...storeOptions, quiet: { type: "boolean", short: "q" }, format: { type: "string" }, digests: { type: "boolean" }, "no-trunc": { type: "boolean" }, filter: { type: "string", short: "f", multiple: true } },
    });
    if (values.help === true) return printUsage(imagesCommand, help);
    const store = await storeFromFlags(values);
    const images = (await store.listImages()).sort((a, b) => displayName(a.name).localeCompare(displayName(b.name)));
    // before=/since= name an image as the other commands do: a name or an ID.
    const keep = await imageFilter(values.filter ?? [], async (ref) => {
      const found = images.find((i) => i.name === ref || (i.name !== undefined && displayName(i.name) === ref) || i.descriptor.digest === ref || shortDigest(i.descriptor.digest) === ref);
      if (found === undefined) return undefined;
      return createdTime((await store.resolve(found.descriptor.digest).catch(() => undefined))?.config.created);
    });
    const format = values.quiet === true ? "{{.ID}}" : (values.format ?? (values.digests === true ? TABLE_WITH_DIGESTS : TABLE));
    process.stdout.write(formatListing(await listing(store, images, values["no-trunc"] === true, keep), format));
    return 0;
  },
};
