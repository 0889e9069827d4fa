import { lstat } from "node:fs/promises";
import path from "node:path";
import { componentMatcher, hasWildcard } from "../context/glob.js";
import { rulesFromText } from "../context/ignore.js";
import type { SourceEntry, SourceTree } from "../context/sources.js";
import { TbuildError } from "../errors.js";
import type { MergedView } from "./rootfs.js";

/**
 * COPY --from sources: paths (with Go-style wildcards) in another stage's or
 * image's merged tree. Paths are resolved inside that tree, never on the host.
 */
export async function resolveViewSources(view: MergedView, patterns: string[], excludes: string[], from: string): Promise<SourceTree[]> {
  const exclude = rulesFromText(excludes.join("\n"), "--exclude");
  const trees: SourceTree[] = [];
  for (const pattern of patterns) {
    const normal = path.posix.normalize("/" + pattern);
    const matches = hasWildcard(normal) ? await globView(view, normal) : [normal];
    let found = 0;
    for (const match of matches) {
      const top = await view.resolve(match);
      if (top === undefined) continue;
      found++;
      const name = path.posix.basename(match) || "/";
      if (!top.isDir) {
        trees.push({ name, contextPath: match, kind: "file", entries: [{ rel: "", abs: top.host, stats: await lstat(top.host, { bigint: true }) }] });
        continue;
      }
      const entries: SourceEntry[] = [];
      const walk = async (dir: string, rel: string): Promise<void> => {
        for (const child of await view.list(dir)) {
          const childRel = rel === "" ? child.name : `${rel}/${child.name}`;
          if (exclude.ignores(childRel)) continue;
          entries.push({ rel: childRel, abs: child.host, stats: child.stats });
          if (child.isDir) await walk(path.posix.join(dir, child.name), childRel);
        }
      };
      await walk(match, "");
      trees.push({ name, contextPath: match, kind: "dir", entries });
    }
    if (found === 0 && !hasWildcard(normal)) {
      throw new TbuildError("not-found", `source '${pattern}' not found in ${from}`, { hint: `check the path inside ${from}` });
    }
  }
  if (trees.length === 0) throw new TbuildError("not-found", `no source files were specified: ${patterns.join(", ")} matched nothing in ${from}`);
  return trees;
}

async function globView(view: MergedView, pattern: string): Promise<string[]> {
  let candidates = ["/"];
  for (const part of pattern.split("/").filter((p) => p !== "")) {
    const next: string[] = [];
    for (const dir of candidates) {
      if (!hasWildcard(part)) {
        next.push(path.posix.join(dir, part));
        continue;
      }
      const re = componentMatcher(part);
      for (const child of await view.list(dir)) if (re.test(child.name)) next.push(path.posix.join(dir, child.name));
    }
    candidates = next;
  }
  return candidates;
}
