import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

import { TbuildError, ioError } from "../../errors.js";

/** Fixed entry metadata: archives of the same image are byte-identical. */
const HEADER = { mtime: new Date(0), uid: 0, gid: 0, uname: "", gname: "", mode: 0o644 };

/**
 * Streams a tar to `dest`: a file, "-" for stdout, or a stream (a request body). Files
 * go to a temp name and are renamed on success, so a failed export never leaves a
 * truncated archive under the real name.
 */
export async function writeTar(dest: string | Writable, fill: (t: TarSink) => Promise<void>): Promise<void> {
  const pack = tar.pack();
  await writeStream(dest, pack, async () => {
    await fill(new TarSink(pack));
    pack.finalize();
  });
}

/**
 * Pipes `source` to `dest` (as writeTar) while `produce` feeds it; a failure of either
 * destroys the source and removes the temp file.
 */
export async function writeStream(dest: string | Writable, source: Readable | tar.Pack, produce: () => Promise<void> = async () => undefined): Promise<void> {
  const toFile = typeof dest === "string" && dest !== "-";
  const tmp = toFile ? `${dest}.${process.pid}-${randomBytes(4).toString("hex")}.tmp` : "";
  const out = typeof dest !== "string" ? dest : toFile ? createWriteStream(tmp, { flags: "wx" }) : process.stdout;
  // A reader that stops early (`| head`) breaks the pipe: reported below, once; later writes may fail the same way.
  if (out === process.stdout) out.on("error", () => undefined);
  const piping = pipeline(source, out);
  try {
    await produce();
    await piping;
    if (toFile) await rename(tmp, dest);
  } catch (e) {
    source.destroy();
    await piping.catch(() => undefined);
    if (toFile) await rm(tmp, { force: true });
    if (out === process.stdout && (e as NodeJS.ErrnoException).code === "EPIPE") {
      throw new TbuildError("unavailable", "standard output was closed before the whole archive was written", { hint: "let the reader take all of it (e.g. | tar -x, not | head)" });
    }
    throw e instanceof TbuildError ? e : ioError(e, `writing ${typeof dest === "string" ? dest : "the archive"}`);
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
