import { readFile, realpath } from "node:fs/promises";
import path from "node:path";
import { TbuildError, ioError } from "../errors.js";

/**
 * The Dockerfile's text, or an error that says which file and why in words. A Dockerfile
 * inside `contextDir` (the default CONTEXT/Dockerfile) is confined to the context as COPY's
 * sources are: a symlink leading out of it is refused before anything is read, so a
 * context cannot make tbuild read (and quote in a parse error) a file such as /etc/shadow.
 * A file named with -f outside the context is the user's choice and is read as it is.
 */
export async function readDockerfile(file: string, contextDir?: string): Promise<string> {
  if (contextDir !== undefined) await confine(file, contextDir);
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw ioError(e, `cannot read Dockerfile ${file}`, "name it with -f PATH; by default tbuild reads CONTEXT/Dockerfile");
  }
}

async function confine(file: string, contextDir: string): Promise<void> {
  const context = path.resolve(contextDir);
  const abs = path.resolve(file);
  if (!abs.startsWith(context + path.sep)) return;
  let real: string;
  let realContext: string;
  try {
    [real, realContext] = await Promise.all([realpath(abs), realpath(context)]);
  } catch {
    return; // missing or unreadable: reading it says so
  }
  if (!real.startsWith(realContext + path.sep)) {
    throw new TbuildError("invalid-argument", `the Dockerfile ${file} is a symlink that leads outside the build context`, {
      hint: "a Dockerfile in the context is read only from inside it, as COPY reads its sources; name a file elsewhere with -f PATH",
    });
  }
}
