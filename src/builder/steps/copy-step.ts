import { randomBytes } from "node:crypto";
import { lstat, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { hashFile } from "../../context/file-hashes.js";
import { resolveSources, type SourceTree } from "../../context/sources.js";
import { DiskFullError } from "../../disk-full.js";
import { TbuildError } from "../../errors.js";
import type { Change } from "../../snapshotter/changes.js";
import type { LayerItem } from "../../snapshotter/differ.js";
import { hasWildcard } from "../../context/glob.js";
import { expandWord, type Instruction } from "../../parser/index.js";
import { archiveKind, archiveUnder, type ArchiveKind } from "../add-archive.js";
import { heredocSources, planCopy, planSubtreeCopy, type CopyRequest } from "../copy.js";
import { NotWhole, rewrittenSubtree, subtreeKey } from "../layer-subtree.js";
import { download, isUrl } from "../download.js";
import { envToMap } from "../image-config.js";
import { chainIds, type Layer } from "../rootfs.js";
import { digestSources } from "../source-digest.js";
import { imageIdsOf } from "../users.js";
import { resolveViewSources } from "../view-sources.js";
import { commitStep, layerFromChanges, layerFromItems, located, withView, type StepInputs, type StepState, relocated } from "./common.js";
import type { CopyStepContext } from "./context.js";

const NO_IGNORE = { ignores: () => false, source: undefined };

/** COPY and ADD: files from the context, a stage, an image or a URL, or local archives unpacked. */
export async function copyStep(instruction: Instruction & { keyword: "COPY" | "ADD" }, state: StepState, ctx: CopyStepContext): Promise<StepInputs> {
  const flags = instruction.flags;
  const from = typeof flags["from"] === "string" ? flags["from"] : undefined;
  const isAdd = instruction.keyword === "ADD";
  for (const source of instruction.args.sources) {
    if (isAdd && /^git:\/\/|^git@|\.git(#|$)/.test(source)) {
      throw located(ctx, instruction, `ADD from a git repository is not implemented yet: ${source}`, "clone it in a RUN step, or COPY a checkout from the build context");
    }
  }
  const urls = isAdd ? instruction.args.sources.filter(isUrl) : [];
  const localSources = instruction.args.sources.filter((s) => !urls.includes(s));
  if (flags["parents"] === true) throw located(ctx, instruction, "COPY --parents is not implemented yet", "copy each directory with its own COPY line");
  const checksum = typeof flags["checksum"] === "string" ? flags["checksum"] : undefined;
  if (checksum !== undefined && (urls.length !== 1 || localSources.length > 0)) {
    throw located(ctx, instruction, "ADD --checksum needs exactly one source, and it must be a URL");
  }
  if (isAdd && from === undefined && localSources.length > 0 && urls.length === 0) {
    const archives = await localArchives(instruction, ctx);
    if (archives !== undefined) return archiveStep(instruction, archives, state, ctx);
  }
  const lookup = (name: string): string | undefined => envToMap(state.container.Env).get(name) ?? state.args.get(name);
  const request = {
    keyword: instruction.keyword,
    sources: localSources,
    heredocs: heredocSources(instruction.args.heredocs, (t) => expandWord(t.replace(/["']/g, "\\$&"), lookup, ctx.escape)),
    dest: instruction.args.dest,
    workdir: state.container.WorkingDir ?? "/",
    excludes: (flags["exclude"] as string[] | undefined) ?? [],
    ...(typeof flags["chown"] === "string" ? { chown: flags["chown"] } : {}),
    ...(typeof flags["chmod"] === "string" ? { chmod: flags["chmod"] } : {}),
  };
  let sourceKey = "context";
  let sourceLayers: Layer[] | undefined;
  // --from names a stage, else a directory given with --build-context, else an image.
  const namedDir = from === undefined ? undefined : ctx.sources.directory(from);
  const sourceDir = namedDir ?? ctx.context.dir;
  const rules = namedDir === undefined ? ctx.context.rules : NO_IGNORE;
  if (from !== undefined && namedDir === undefined) {
    const source = await (ctx.sources.stage(from) ??
      ctx.sources.image(from).catch((e: unknown) => {
        throw e instanceof TbuildError ? relocated(ctx, instruction, e) : e;
      }));
    // As BuildKit: the files selected count, not how the stage made them, so a COPY --from
    // stays cached when its stage ran again without changing what is copied.
    sourceKey = "layers";
    sourceLayers = source.layers;
  } else if (namedDir !== undefined) {
    sourceKey = `context:${from}`;
  }
  const nowNs = BigInt(ctx.output.sourceDateEpoch ?? Math.floor(Date.now() / 1000)) * 1_000_000_000n;
  const fromLabel = `--from=${from}`;
  const viewTrees = (layers: Layer[]): Promise<SourceTree[]> => withView(layers, ctx.snapshots, (source) => resolveViewSources(source, request.sources, request.excludes, fromLabel));
  // The key holds the request and the sources' content. What the destination image adds
  // (is dest a directory, who is --chown, the parents' owners) follows from the parent
  // key, so it is looked at only when the step runs: a cached COPY touches no snapshot.
  let trees: SourceTree[] | undefined;
  let sources: string;
  /** The layer, when the pass that found the key wrote it too. */
  let made: Layer | undefined;
  /**
   * The layer of a COPY --from of a whole directory (see wholeDirectory), streamed from
   * the source's top layer; with `keyParts`, the cache key's parts gathered in the same read.
   */
  const subtreeLayer = (whole: { digest: string; dir: string }, scratch: string, keyParts?: [string, string][]): Promise<Layer | undefined> =>
    withView(state.layers, ctx.snapshots, async (view) => {
      const plan = await planSubtreeCopy(request, { view, scratchDir: scratch, nowNs });
      const items = (async function* (): AsyncGenerator<LayerItem> {
        yield* plan.parents;
        yield* rewrittenSubtree(ctx.output.content, whole.digest, whole.dir, plan.dest, plan, keyParts);
      })();
      return layerFromItems(items, ctx.output).catch(notWhole);
    });
  /** Context files by path with their digests (not for --from, whose digest may come from TreeDigests). */
  const files = new Map<string, string>();
  try {
    if (sourceLayers === undefined) {
      trees = request.sources.length === 0 ? [] : await resolveSources(sourceDir, request.sources, rules, request.excludes);
      if (urls.length > 0) {
        // Under the build's scratch, which goes with the build: a cached ADD needs the file no longer.
        const downloads = await mkdtemp(path.join(ctx.scratchRoot, "download-"));
        for (const url of urls) {
          const got = await download(url, path.join(downloads, `download-${trees.length}`), checksum);
          trees.push({ name: got.name, contextPath: got.name, kind: "file", entries: [{ rel: "", abs: got.file, stats: await lstat(got.file, { bigint: true }) }] });
        }
      }
      sources = await digestSources(trees, (abs, st) => ctx.hashes.digest(abs, st), false, files);
    } else {
      // Committed snapshots never change: what a selection holds is hashed once per chain.
      const layers = sourceLayers;
      const chain = chainIds(layers.map((l) => l.diffID)).at(-1) ?? "scratch";
      const selection = { sources: request.sources, excludes: request.excludes };
      const known = await ctx.treeDigests.get(chain, selection);
      if (known !== undefined) sources = known;
      else {
        const whole = await wholeDirectory(request, layers, ctx);
        // The key needs every byte of the directory read, and a miss needs them read again
        // for the layer: one read does both, the layer written before the key is known. A hit
        // after all (the same content under a new chain: the memo is by chain) leaves that
        // blob unreferenced, for prune; a build that rebuilt the source stage misses anyway.
        const keyParts: [string, string][] = [];
        if (whole !== undefined) {
          const scratch = await mkdtemp(path.join(ctx.scratchRoot, "copy-"));
          made = await subtreeLayer(whole, scratch, keyParts).finally(() => rm(scratch, { recursive: true, force: true }));
        }
        if (made !== undefined) sources = subtreeKey(whole!.dir, keyParts);
        else {
          trees = await viewTrees(layers);
          sources = await digestSources(trees, (abs, st) => hashFile(abs, st.size), true);
        }
        await ctx.treeDigests.put(chain, selection, sources);
      }
    }
  } catch (e) {
    if (e instanceof TbuildError) throw relocated(ctx, instruction, e);
    throw e;
  }
  return {
    // A URL's content is in `content`: the key says what was downloaded, never where from (URLs may hold credentials).
    key: { copy: isAdd && urls.length > 0 ? "ADD <url>" : instruction.original, request, from: sourceKey, content: sources },
    ...(sourceLayers === undefined ? { files } : {}),
    execute: async (stageScratch) => {
      if (made !== undefined) return made;
      const scratch = await mkdtemp(path.join(stageScratch, "copy-"));
      let changes: Change[] = [];
      try {
        const whole = trees === undefined && sourceLayers !== undefined ? await wholeDirectory(request, sourceLayers, ctx) : undefined;
        if (whole !== undefined) {
          const layer = await subtreeLayer(whole, scratch);
          if (layer !== undefined) return layer;
        }
        trees ??= await viewTrees(sourceLayers ?? []);
        const source = trees;
        changes = await withView(state.layers, ctx.snapshots, (view) =>
          planCopy(request, source, { view, scratchDir: scratch, nowNs, ...(sourceLayers === undefined ? {} : { sourceOwner: imageIdsOf }) }),
        );
        return await layerFromChanges(changes, ctx.output);
      } catch (e) {
        // The layer holds about what is copied (compression aside): that is what the disk lacked room for.
        if (e instanceof DiskFullError) throw relocated(ctx, instruction, e.under(ctx.storeRoot, copiedBytes(changes)));
        if (e instanceof TbuildError) throw relocated(ctx, instruction, e);
        throw e;
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    },
  };
}

/** NotWhole as undefined (the general path follows); any other error as it is. */
function notWhole(e: unknown): undefined {
  if (e instanceof NotWhole) return undefined;
  throw e;
}

/**
 * The top layer of a COPY --from source and the directory in it, when the request is
 * one whole directory (no wildcard, --exclude or heredoc) that no lower layer has:
 * then that layer may hold it alone (layer-subtree.ts checks the rest as it reads).
 */
async function wholeDirectory(request: CopyRequest, layers: Layer[], ctx: CopyStepContext): Promise<{ digest: string; dir: string } | undefined> {
  const top = layers.at(-1);
  const [source] = request.sources;
  if (top === undefined || source === undefined || request.sources.length !== 1 || hasWildcard(source) || request.excludes.length > 0 || request.heredocs.length > 0) return undefined;
  const dir = path.posix.normalize("/" + source).replace(/\/+$/, "");
  if (dir === "") return undefined;
  const below = await withView(layers.slice(0, -1), ctx.snapshots, (view) => view.lookup(dir));
  return below === undefined ? { digest: top.digest, dir: dir.slice(1) } : undefined;
}

interface LocalArchive {
  file: string;
  kind: ArchiveKind;
}

/** ADD's sources when they are all local archives (to unpack), undefined when none is; a mix is refused. */
async function localArchives(instruction: Instruction & { keyword: "COPY" | "ADD" }, ctx: CopyStepContext): Promise<LocalArchive[] | undefined> {
  let trees;
  try {
    trees = await resolveSources(ctx.context.dir, instruction.args.sources, ctx.context.rules, (instruction.flags["exclude"] as string[] | undefined) ?? []);
  } catch (e) {
    if (e instanceof TbuildError) throw relocated(ctx, instruction, e);
    throw e;
  }
  const files = trees.filter((t) => t.kind === "file").map((t) => t.entries[0]!.abs);
  const archives: LocalArchive[] = [];
  for (const file of files) {
    const kind = await archiveKind(file);
    if (kind !== undefined) archives.push({ file, kind });
  }
  if (archives.length === 0) return undefined;
  if (archives.length !== trees.length || (instruction.args.heredocs ?? []).length > 0) {
    throw located(ctx, instruction, "ADD of archives together with other sources is not implemented yet", "give the archives their own ADD line");
  }
  return archives;
}

/** ADD of local tar archives: each is unpacked at dest through the snapshotter's safe applier. */
async function archiveStep(instruction: Instruction & { keyword: "COPY" | "ADD" }, archives: LocalArchive[], state: StepState, ctx: CopyStepContext): Promise<StepInputs> {
  const dest = path.posix.resolve(state.container.WorkingDir ?? "/", instruction.args.dest);
  const digests = [];
  for (const { file } of archives) digests.push(await ctx.hashes.digest(file, await lstat(file, { bigint: true })));
  return {
    key: { add: instruction.original, dest, archives: digests },
    execute: async (): Promise<Layer | null> => {
      const { snapshotter, rootfs } = await ctx.snapshots();
      const parent = await rootfs.ensure(state.layers);
      const active = `add-${randomBytes(8).toString("hex")}`;
      const view = snapshotter.tree(await snapshotter.prepare(active, parent));
      try {
        // Through the image's symlinks as COPY goes (a merged-/usr /bin is /usr/bin).
        const place = (p: string) => view.canonical(p);
        for (const { file, kind } of archives) await snapshotter.apply(active, await archiveUnder(file, kind, dest, place), { layer: `ADD ${path.basename(file)}` });
        return await commitStep(snapshotter, active, state.layers, ctx.output);
      } catch (e) {
        await snapshotter.remove(active).catch(() => undefined);
        if (e instanceof TbuildError) throw relocated(ctx, instruction, e);
        throw e;
      }
    },
  };
}

function copiedBytes(changes: readonly Change[]): number {
  return changes.reduce((n, c) => n + (c.kind === "add" && c.st.isFile() ? Number(c.st.size) : 0), 0);
}
