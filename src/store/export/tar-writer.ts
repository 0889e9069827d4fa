import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

import { TbuildError, ioError } from "../../errors.js";

/** Fixed entry metadata: archives of the same image are byte-identical. */
const HEADER = { mtime: new Date(0), uid: 0, gid: 0, uname: "", gname: "", mode: 0o644 };

/**
 * Streams a tar to `dest` ("-" for stdout). Files go to a temp name and are renamed on
 * success, so a failed export never leaves a truncated archive under the real name.
 */
export async function writeTar(dest: string, fill: (t: TarSink) => Promise<void>): Promise<void> {
  const pack = tar.pack();
  const toStdout = dest === "-";
  const tmp = toStdout ? "" : `${dest}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  const out = toStdout ? process.stdout : createWriteStream(tmp, { flags: "wx" });
  const piping = pipeline(pack, out);
  try {
    await fill(new TarSink(pack));
    pack.finalize();
    await piping;
    if (!toStdout) await rename(tmp, dest);
  } catch (e) {
    pack.destroy();
    await piping.catch(() => undefined);
    if (!toStdout) await rm(tmp, { force: true });
    throw e instanceof TbuildError ? e : ioError(e, `writing ${dest}`);
  }
}

export class TarSink {
  constructor(private readonly pack: tar.Pack) {}

  /** Adds a small in-memory file. */
  async file(name: string, body: string | Buffer): Promise<void> {
    await new Promise<void>((resolve, reject) => this.pack.entry({ ...HEADER, name }, body, (e) => (e ? reject(e) : resolve())));
  }

  /** Adds a file streamed from `source`; `size` must be exact (tar headers come first). */
  async stream(name: string, size: number, source: Readable): Promise<void> {
    let entry!: ReturnType<tar.Pack["entry"]>;
    const done = new Promise<void>((resolve, reject) => {
      entry = this.pack.entry({ ...HEADER, name, size }, (e) => (e ? reject(e) : resolve()));
    });
    await Promise.all([pipeline(source, entry), done]);
  }

  async dir(name: string): Promise<void> {
    await new Promise<void>((resolve, reject) => this.pack.entry({ ...HEADER, mode: 0o755, name, type: "directory" }, (e) => (e ? reject(e) : resolve())));
  }
}
