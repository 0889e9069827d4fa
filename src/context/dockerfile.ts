import { readFile } from "node:fs/promises";
import { ioError } from "../errors.js";

/** The Dockerfile's text, or an error that says which file and why in words. */
export async function readDockerfile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw ioError(e, `cannot read Dockerfile ${file}`, "name it with -f PATH; by default tbuild reads CONTEXT/Dockerfile");
  }
}
