/**
 * Outputs written on this machine (BuildKit's client-side exporters): OCI and docker
 * archives or an OCI layout directory, the flattened root filesystem as a directory or
 * a tar. Each wraps a writer of ../store/export/, after checking where it writes
 * before the build starts.
 */
import { statSync } from "node:fs";
import path from "node:path";

import { TbuildError } from "../errors.js";
import { dockerExporter } from "../store/export/docker.js";
import { localExporter } from "../store/export/local.js";
import { ociExporter } from "../store/export/oci.js";
import { tarExporter } from "../store/export/tar.js";
import type { Exporter as ArchiveWriter } from "../store/export/types.js";
import type { OutputSpec, OutputType, ResolvedExporter, ResolveContext } from "./exporter.js";
import { exportLoad } from "./docker-load.js";

/** What a file output needs: `dest=`, a parent directory that exists, and no terminal for "-". */
function fileDest(spec: OutputSpec, example: string): string {
  const dest = spec.dest;
  if (dest === undefined || dest === "") throw new TbuildError("invalid-argument", `--output type=${spec.type}: needs dest=`, { hint: `e.g. --output ${example}` });
  if (dest === "-") {
    if (process.stdout.isTTY === true) {
      throw new TbuildError("invalid-argument", `--output type=${spec.type},dest=-: standard output is a terminal, and an archive would garble it`, { hint: "redirect it (tbuild build -o - . > rootfs.tar) or pipe it (| tar -t)" });
    }
    return dest;
  }
  const file = path.resolve(dest);
  const parent = statSync(path.dirname(file), { throwIfNoEntry: false });
  if (parent?.isDirectory() !== true) throw new TbuildError("invalid-argument", `--output type=${spec.type},dest=${dest}: the directory ${path.dirname(file)} does not exist`, { hint: "create it first, or choose another dest=" });
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) {
    throw new TbuildError("invalid-argument", `--output type=${spec.type},dest=${dest}: is a directory, and this output is a file`, { hint: spec.type === "oci" ? "add tar=false to write an OCI layout directory, or name a file" : "name a file" });
  }
  return file;
}

/** What a directory output needs: `dest=` that is not a file (it is created if missing). */
function dirDest(spec: OutputSpec, example: string): string {
  const dest = spec.dest;
  if (dest === undefined || dest === "") throw new TbuildError("invalid-argument", `--output type=${spec.type}: needs dest=`, { hint: `e.g. --output ${example}` });
  if (dest === "-") throw new TbuildError("invalid-argument", `--output type=${spec.type} writes a directory, not a stream`, { hint: "name the directory (--output type=local,dest=DIR or -o DIR), or write a tar to standard output with -o -" });
  const dir = path.resolve(dest);
  const found = statSync(dir, { throwIfNoEntry: false });
  if (found !== undefined && !found.isDirectory()) throw new TbuildError("invalid-argument", `--output type=${spec.type},dest=${dest}: is a file, and this output is a directory`, { hint: "choose a directory (it is created if missing)" });
  return dir;
}

/** The resolved form of every file output: one writer of store/export, run on the stored image. */
function writing(writer: ArchiveWriter, spec: OutputSpec, dest: string, what: string, splitPlatforms = false): ResolvedExporter {
  return {
    name: `exporting to ${what} ${dest === "-" ? "standard output" : dest}`,
    kind: "export",
    writesStdout: dest === "-",
    async finalize(image, progress) {
      const name = spec.name ?? image.tags[0];
      const resolved = await image.store.resolve(image.descriptor.digest);
      const result = await writer.export(image.store, resolved, { type: writer.type, dest, splitPlatforms, ...(spec.tar === undefined ? {} : { tar: spec.tar }), ...(name === undefined ? {} : { name }) });
      for (const w of result.warnings ?? []) progress.warn(w);
    },
  };
}

function onePlatform(spec: OutputSpec, ctx: ResolveContext): void {
  if (ctx.platforms > 1) {
    throw new TbuildError("invalid-argument", `--output type=${spec.type} holds one platform, and this build makes ${ctx.platforms}`, { hint: "use type=oci (an index of every platform), or build one --platform" });
  }
}

export const ociOutput: OutputType = {
  type: "oci",
  fields: ["dest", "tar", "name"],
  example: "type=oci,dest=image.tar",
  resolve(spec) {
    const dest = spec.tar === false ? dirDest(spec, "type=oci,dest=DIR,tar=false") : fileDest(spec, this.example);
    return writing(ociExporter, spec, dest, spec.tar === false ? "oci layout" : "oci image format");
  },
};

/** type=docker: a `docker load` tar at dest=, or, without dest (buildx's `--load`), into a reachable docker. */
export const dockerOutput: OutputType = {
  type: "docker",
  fields: ["dest", "name"],
  example: "type=docker,dest=image.tar",
  async resolve(spec, ctx) {
    onePlatform(spec, ctx);
    if (ctx.compression === "zstd") {
      throw new TbuildError("invalid-argument", `${spec.dest === undefined ? "--load" : `--output type=docker`}: docker load does not read the zstd layers --compression zstd makes`, { hint: "build with --compression gzip (the default), or write type=oci" });
    }
    if (spec.dest === undefined) return exportLoad(spec);
    return writing(dockerExporter, spec, fileDest(spec, this.example), "docker image format");
  },
};

export const localOutput: OutputType = {
  type: "local",
  fields: ["dest"],
  example: "type=local,dest=DIR",
  resolve(spec, ctx) {
    return writing(localExporter, spec, dirDest(spec, this.example), "client directory", ctx.platforms > 1);
  },
};

export const tarOutput: OutputType = {
  type: "tar",
  fields: ["dest"],
  example: "type=tar,dest=rootfs.tar",
  resolve(spec, ctx) {
    return writing(tarExporter, spec, fileDest(spec, this.example), "client tarball", ctx.platforms > 1);
  },
};
