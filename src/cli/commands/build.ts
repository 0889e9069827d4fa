import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseCacheExport, parseCacheImport } from "../../cache/spec.js";
import { build, type BuildResult } from "../../builder/build.js";
import { isAbortError, TbuildError } from "../../errors.js";
import { shortDigest } from "../../oci/digest.js";
import type { Compression } from "../../snapshotter/compression.js";
import type { OutputSpec } from "../../exporter/exporter.js";
import { parseOutput } from "../../exporter/table.js";
import type { SecretSource } from "../../builder/run-mounts.js";
import { parseExtraHost } from "../../builder/step-files.js";
import { mountFields } from "../../parser/index.js";
import { ISOLATIONS, type Isolation } from "../../executor/select.js";
import type { Command } from "../command.js";
import { registryFlags, registryFlagsUsage, registryOptions } from "../registry-flags.js";
import { buildArgsOption, parseFlags } from "../args.js";
import { cancelOnSignals, INTERRUPTED } from "../interrupt.js";
import { createRenderer, progressMode } from "../progress/index.js";

const usage = `Usage: tbuild build [OPTIONS] CONTEXT|-   (also: tbuild [OPTIONS] CONTEXT)

Builds the Dockerfile in CONTEXT into an image in the local store, with
docker build's flags. No daemon and no root: RUN steps run in a user namespace.

Options:
  -t, --tag NAME          name the image (repeatable)
  -f, --file PATH         the Dockerfile (default CONTEXT/Dockerfile; - reads stdin)
      --build-arg K=V     set a build-time ARG (repeatable; K alone takes $K)
      --target STAGE      build up to this stage
      --platform P        os/arch[/variant] to build for, or several, comma-separated,
                          for a multi-platform image (default: this machine's)
      --label K=V         add a label to the image (repeatable)
      --build-context N=V a named context for COPY --from=N: a directory, or
                          docker-image://REF to use an image for FROM N (repeatable)
      --network MODE      RUN's network unless a step says: default, none or host
      --add-host NAME:IP  an /etc/hosts entry for RUN steps (repeatable)
      --no-cache          run every step, ignoring the build cache
      --pull              check the registry for newer base images
  -o, --output SPEC       also write the result (repeatable; checked before the build):
                          type=oci|docker,dest=FILE.tar, type=oci,dest=DIR,tar=false,
                          type=local,dest=DIR (or a bare path), type=tar,dest=FILE
                          (the root filesystem; -o - writes it to stdout),
                          type=registry[,name=REF] (push REF, or the -t names) and
                          type=image,name=REF[,push=true] (name it, and push)
      --secret SPEC       a secret for RUN --mount=type=secret: id=ID,src=FILE or
                          id=ID,env=VAR (repeatable; never stored in the image or cache)
      --cache-from SPEC   reuse steps from a cache (repeatable, asked in order):
                          type=registry,ref=TAG (or just TAG; also an image pushed
                          with --cache-to type=inline) or type=local,src=DIR;
                          an unreadable cache is skipped with a warning
      --cache-to SPEC     export this build's steps (repeatable):
                          type=registry,ref=TAG[,mode=min|max],
                          type=local,dest=DIR[,mode=min|max][,max-size=2g][,max-age=7d],
                          or type=inline (records in the image's config);
                          mode=min (default): the final image's steps, max: all stages'
                          ignore-error=true makes a failed export a warning;
                          cache-mounts=true (registry, local) also exports the
                          contents of RUN --mount=type=cache ids, which --cache-from
                          seeds on a root that has not used them yet
      --explain-cache     for each step that missed, say which input differs from
                          the nearest record of any cache (file, build arg, ENV,
                          instruction, base image or parent step)
      --push              push every -t name to its registry (type=registry)
      --load              load the image into a running docker (type=docker without
                          dest); fails before building when no daemon answers
      --annotation A      [TYPE:]KEY=VALUE on the manifest (TYPE: manifest, index,
                          manifest-descriptor, optionally [os/arch]; repeatable)
      --no-cache-filter S rerun the steps of stage S (repeatable or comma-separated)
      --iidfile FILE      write the image digest to FILE
      --metadata-file F   write the result as JSON (digests and names) to F
      --progress MODE     auto (default: tty on a terminal, else plain), tty, plain,
                          rawjson (one JSON event a line) or quiet; default from
                          $TBUILD_PROGRESS or $BUILDKIT_PROGRESS
  -q, --quiet             print only the image digest
      --provenance, --sbom, --ssh
                          accepted for CI pipelines; not applied yet, each says so
                          in one warning line (--provenance=false, --sbom=false: none)
      --rm, --force-rm
                          accepted for docker build compatibility; they change
                          nothing (results always land in the local store)
      --root DIR          local store (default $TBUILD_ROOT, else ~/.local/share/tbuild)
      --snapshotter D     overlay, native or auto (default auto: overlay where it mounts)
      --isolation I       how RUN is isolated: namespace, chroot (root in a CI container
                          that allows no namespaces; the container is the boundary) or
                          auto (default: chroot only where namespaces are refused to root)
      --compression C     gzip (default), zstd or none
      --jobs N            stages built at once (default 4)

${registryFlagsUsage}`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Flags CI pipelines pass to buildx that tbuild does not act on yet: accepted, so the
 * pipeline keeps working, each with one line saying what is not done.
 * `--provenance=false` and `--sbom=false` ask for what tbuild does anyway.
 */
export function ciFlagWarnings(values: { provenance?: string; sbom?: string; ssh?: string[] }): string[] {
  const off = (v: string | undefined): boolean => v === undefined || v === "false" || v === "0";
  const out: string[] = [];
  if (!off(values.provenance)) out.push(`--provenance=${values.provenance}: provenance attestations are not implemented; the image is built without one`);
  if (!off(values.sbom)) out.push(`--sbom=${values.sbom}: SBOM attestations are not implemented; the image is built without one`);
  if ((values.ssh ?? []).length > 0) out.push("--ssh is not implemented yet: no SSH agent is forwarded (RUN --mount=type=ssh is refused with its line)");
  return out;
}

/** `--secret id=ID,src=FILE` or `id=ID,env=VAR` (buildx's syntax; `source=` and `type=` are accepted too). */
export function parseSecret(spec: string): [string, SecretSource] {
  const fields = mountFields(spec);
  const id = fields.get("id");
  const file = fields.get("src") ?? fields.get("source");
  const envName = fields.get("env");
  if (id === undefined || id === "" || (file === undefined) === (envName === undefined)) {
    throw new TbuildError("invalid-argument", "--secret needs id= and one of src= or env=", { hint: "e.g. --secret id=npmrc,src=$HOME/.npmrc or --secret id=token,env=GITHUB_TOKEN" });
  }
  return [id, file !== undefined ? { file: path.resolve(file) } : { env: envName! }];
}

function keyValues(items: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new TbuildError("invalid-argument", `${flag} ${item}: write KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export const buildCommand: Command = {
  name: "build",
  summary: "Build an image from a Dockerfile",
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(
      buildCommand,
      {
        args: argv,
        allowPositionals: true,
        options: {
          tag: { type: "string", short: "t", multiple: true },
          file: { type: "string", short: "f" },
          "build-arg": { type: "string", multiple: true },
          target: { type: "string" },
          platform: { type: "string" },
          label: { type: "string", multiple: true },
          "no-cache": { type: "boolean" },
          pull: { type: "boolean" },
          output: { type: "string", short: "o", multiple: true },
          push: { type: "boolean" },
          secret: { type: "string", multiple: true },
          "cache-from": { type: "string", multiple: true },
          "cache-to": { type: "string", multiple: true },
          "explain-cache": { type: "boolean" },
          "build-context": { type: "string", multiple: true },
          network: { type: "string" },
          "add-host": { type: "string", multiple: true },
          "metadata-file": { type: "string" },
          progress: { type: "string" },
          load: { type: "boolean" },
          provenance: { type: "string" },
          sbom: { type: "string" },
          annotation: { type: "string", multiple: true },
          "no-cache-filter": { type: "string", multiple: true },
          ssh: { type: "string", multiple: true },
          rm: { type: "boolean" },
          "force-rm": { type: "boolean" },
          iidfile: { type: "string" },
          quiet: { type: "boolean", short: "q" },
          root: { type: "string" },
          snapshotter: { type: "string" },
          isolation: { type: "string" },
          compression: { type: "string" },
          jobs: { type: "string" },
          help: { type: "boolean", short: "h" },
          ...registryFlags,
        },
      },
    );
    if (values.help === true) {
      process.stdout.write(usage + "\n");
      return 0;
    }
    if (positionals.length !== 1) {
      throw new TbuildError("invalid-argument", positionals.length === 0 ? "build needs a context directory" : `build takes one context directory, got ${positionals.length}`, {
        hint: "e.g. tbuild build -t myimage .",
      });
    }
    const snapshotter = values.snapshotter ?? "auto";
    if (!["auto", "overlay", "native"].includes(snapshotter)) throw new TbuildError("invalid-argument", `--snapshotter ${snapshotter}: choose overlay, native or auto`);
    const isolation = values.isolation ?? "auto";
    if (!(ISOLATIONS as readonly string[]).includes(isolation)) throw new TbuildError("invalid-argument", `--isolation ${isolation}: choose ${ISOLATIONS.join(", ")}`);
    const compression = values.compression ?? "gzip";
    if (!["gzip", "zstd", "none"].includes(compression)) throw new TbuildError("invalid-argument", `--compression ${compression}: choose gzip, zstd or none`);
    const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
    if (jobs !== undefined && !(Number.isInteger(jobs) && jobs > 0)) throw new TbuildError("invalid-argument", `--jobs ${values.jobs}: give a positive whole number`);
    for (const warning of ciFlagWarnings(values)) process.stderr.write(`warning: ${warning}\n`);
    // As buildx: --push is -o type=registry and --load -o type=docker, for the -t names.
    const outputs: OutputSpec[] = [...(values.output ?? []).map(parseOutput), ...(values.push === true ? [{ type: "registry" }] : []), ...(values.load === true ? [{ type: "docker" }] : [])];
    // When the image goes to standard output, nothing else may: progress is on stderr, and the digest is not printed.
    const stdoutTaken = outputs.some((o) => o.dest === "-");
    const progress = values.quiet === true ? "quiet" : progressMode(values.progress);
    const network = values.network ?? "default";
    if (!["default", "none", "host"].includes(network)) throw new TbuildError("invalid-argument", `--network ${network}: choose default, none or host`);
    const quiet = progress === "quiet" || progress === "rawjson";
    const renderer = await createRenderer(progress, process.stderr);
    const registry = registryOptions(values);

    // As docker build: `-f -` reads the Dockerfile from standard input; `tbuild build -`
    // does too, with an empty build context.
    const noContext = positionals[0] === "-";
    const fromStdin = values.file === "-" || noContext;
    if (noContext && values.file !== undefined && values.file !== "-") {
      throw new TbuildError("invalid-argument", "tbuild build - reads the Dockerfile from standard input; -f cannot name another", { hint: "drop -f, or give a context directory" });
    }
    const context = noContext ? await mkdtemp(path.join(tmpdir(), "tbuild-empty-context-")) : positionals[0]!;
    let result: BuildResult;
    const interrupt = cancelOnSignals((text) => void process.stderr.write(text));
    try {
      result = await build({
        context,
        ...(values.file === undefined || fromStdin ? {} : { file: path.resolve(values.file) }),
        ...(fromStdin ? { dockerfile: await readStdin(), file: path.resolve(context, "Dockerfile") } : {}),
        tags: values.tag ?? [],
        buildArgs: buildArgsOption(values["build-arg"]),
        ...(values.target === undefined ? {} : { target: values.target }),
        ...(values.platform === undefined ? {} : { platform: values.platform }),
        ...(values.label === undefined ? {} : { labels: keyValues(values.label, "--label") }),
        noCache: values["no-cache"] === true,
        explainCache: values["explain-cache"] === true,
        pull: values.pull === true,
        outputs,
        annotations: values.annotation ?? [],
        noCacheFilter: (values["no-cache-filter"] ?? []).flatMap((f) => f.split(",")).filter((f) => f !== ""),
        secrets: Object.fromEntries((values.secret ?? []).map(parseSecret)),
        cacheFrom: (values["cache-from"] ?? []).map(parseCacheImport),
        contexts: keyValues(values["build-context"], "--build-context"),
        network: network as "default" | "none" | "host",
        addHosts: (values["add-host"] ?? []).map(parseExtraHost),
        cacheTo: (values["cache-to"] ?? []).map(parseCacheExport),
        ...(values.root === undefined ? {} : { root: values.root }),
        snapshotter: snapshotter as "auto" | "overlay" | "native",
        isolation: isolation as Isolation,
        compression: compression as Compression,
        ...(jobs === undefined ? {} : { jobs }),
        registry,
        onEvent: (e) => renderer.onEvent(e),
        signal: interrupt.signal,
      });
      renderer.finish();
    } catch (e) {
      renderer.finish(e);
      if (!isAbortError(e)) throw e;
      process.stderr.write("tbuild: the build was cancelled\n");
      return INTERRUPTED;
    } finally {
      interrupt.dispose();
      if (noContext) await rm(context, { recursive: true, force: true });
    }
    const digest = result.descriptor.digest;
    if (values.iidfile !== undefined) await writeFile(values.iidfile, digest);
    if (values["metadata-file"] !== undefined) {
      // The keys docker buildx writes, so scripts that read its metadata file read ours.
      const metadata = { "containerimage.digest": digest, "containerimage.config.digest": result.configDigest, "image.name": result.tags.join(",") };
      await writeFile(values["metadata-file"], JSON.stringify(metadata, null, 2) + "\n");
    }
    if (!quiet) for (const pushed of result.pushed) process.stderr.write(`pushed ${pushed.reference}@${pushed.digest}\n`);
    if (!quiet) process.stderr.write(`built ${shortDigest(digest)}${result.tags.length > 0 ? ` as ${result.tags.join(", ")}` : ""}\n`);
    if (!stdoutTaken) process.stdout.write(`${digest}\n`);
    return 0;
  },
};
