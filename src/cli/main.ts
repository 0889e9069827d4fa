#!/usr/bin/env node
/**
 * tbuild's executable. It runs the bundled CLI (tbuild.cjs next to it, made by
 * scripts/bundle-cli.mjs) with V8's code cache: Node 20 has no compile cache, and
 * compiling the bundle's functions again on every run is a good part of a no-change
 * build. Each command keeps the code its last uncached run compiled in the user's
 * cache directory; a missing, unreadable or rejected cache only means compiling as
 * usual. Without the bundle (a checkout built by tsc alone) it imports tbuild.js.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { commands } from "./commands/index.js";

const bundle = fileURLToPath(new URL("./tbuild.cjs", import.meta.url));

/** Owned by the user tbuild runs as, and writable by no one else. */
function ownedByMe(st: { uid: number; mode: number }): boolean {
  const uid = process.geteuid?.();
  return uid === undefined || (st.uid === uid && (st.mode & 0o022) === 0);
}

/**
 * The user's own directory for it, never a shared one: a planted cache is code that
 * runs. Under `sudo`, HOME may still be the invoking user's: root then neither runs code
 * that user could have planted nor leaves root-owned files in their home. So the
 * directory, or its nearest existing ancestor, must be this user's alone.
 */
function cacheDir(): string | undefined {
  const base = process.env["XDG_CACHE_HOME"] || (os.homedir() === "" ? undefined : path.join(os.homedir(), ".cache"));
  if (base === undefined) return undefined;
  const dir = path.join(base, "tbuild", "code-cache");
  for (let p = dir; ; p = path.dirname(p)) {
    try {
      return ownedByMe(statSync(p)) ? dir : undefined;
    } catch {
      if (p === path.dirname(p)) return undefined;
    }
  }
}

/** The cache file, when it is this user's alone (a symbolic link is not followed). */
function readOwnCache(dir: string, name: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path.join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW);
    return ownedByMe(fstatSync(fd)) ? readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function run(source: string): void {
  // V8 checks a cache against the source's length, not its content: the bundle's
  // identity (size, mtime, inode) and Node's version name the file.
  const st = statSync(bundle);
  const first = process.argv[2];
  const command = commands.some((c) => c.name === first) ? first : "other";
  const prefix = `${command}-`;
  const name = `${prefix}${process.version}-${process.arch}-${st.size}-${Math.trunc(st.mtimeMs)}-${st.ino}.bin`;
  const dir = cacheDir();
  const cachedData = dir === undefined ? undefined : readOwnCache(dir, name);
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source.replace(/^#!.*/, "")}\n})`;
  const script = new vm.Script(wrapped, { filename: bundle, ...(cachedData === undefined ? {} : { cachedData }) });
  if (dir !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    // After the command, so the cache holds every function it compiled, not just the top level.
    process.once("beforeExit", () => {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        for (const old of readdirSync(dir)) if (old.startsWith(prefix) && old !== name) rmSync(path.join(dir, old), { force: true });
        const tmp = path.join(dir, `${name}.${process.pid}.tmp`);
        writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        renameSync(tmp, path.join(dir, name));
      } catch {
        // A cache is an optimisation: a read-only or full home directory must not fail a build.
      }
    });
  }
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
}

let source: string | undefined;
try {
  source = readFileSync(bundle, "utf8");
} catch {
  source = undefined;
}
if (source !== undefined) run(source);
else await import("./tbuild.js");
