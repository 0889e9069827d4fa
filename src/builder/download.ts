import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, utimes } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TbuildError } from "../errors.js";

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/**
 * The file name a download gets: the last segment of the URL's path, cleaned so it
 * can only ever name one file in the destination (BuildKit's 2026 hardening of
 * `ADD <url> dir/`: no `..`, no `/`).
 */
export function downloadName(url: URL): string {
  let last = "";
  try {
    last = decodeURIComponent(url.pathname.split("/").filter((p) => p !== "").pop() ?? "");
  } catch {
    last = url.pathname.split("/").pop() ?? "";
  }
  const base = path.posix.basename(path.posix.normalize("/" + last.replace(/\\/g, "/")));
  return base === "" || base === "." || base === ".." ? "__unnamed__" : base;
}

/** Credentials in a URL are for the request, never for messages or history. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  copy.search = "";
  return copy.href;
}

/**
 * Downloads `source` for ADD into `dir`, streaming and hashing it; verifies
 * `checksum` (`sha256:<hex>`) when given. The file gets mode 0600 and the server's
 * Last-Modified time, as docker build does.
 */
export async function download(source: string, dir: string, checksum: string | undefined): Promise<{ file: string; name: string; digest: string }> {
  const url = new URL(source);
  const shown = redactUrl(url);
  if (checksum !== undefined && !/^sha256:[a-f0-9]{64}$/.test(checksum)) {
    throw new TbuildError("invalid-argument", `--checksum=${checksum}: expected sha256:<64 hex digits>`);
  }
  const name = downloadName(url);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  const hash = createHash("sha256");
  let lastModified: string | undefined;
  // Loaded here: a build without ADD <url> (a cached one above all) never pays got's import.
  const { default: got } = await import("got");
  const request = got.stream(url, { timeout: { request: 300_000 }, retry: { limit: 2 } });
  request.on("response", (res: { headers: Record<string, string | string[] | undefined> }) => {
    const lm = res.headers["last-modified"];
    if (typeof lm === "string") lastModified = lm;
  });
  try {
    await pipeline(
      request,
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      }),
      createWriteStream(file, { mode: 0o600 }),
    );
  } catch (e) {
    const status = (e as { response?: { statusCode?: number } }).response?.statusCode;
    throw new TbuildError("unavailable", `ADD ${shown}: ${status !== undefined ? `the server answered ${status}` : "download failed"}`, {
      hint: "check the URL, or download the file in a RUN step",
    });
  }
  const digest = `sha256:${hash.digest("hex")}`;
  if (checksum !== undefined && digest !== checksum) {
    throw new TbuildError("failed-precondition", `ADD ${shown}: the download's digest is ${digest}, not the --checksum ${checksum}`);
  }
  if (lastModified !== undefined && !Number.isNaN(Date.parse(lastModified))) {
    const t = new Date(lastModified);
    await utimes(file, t, t);
  }
  return { file, name, digest };
}
