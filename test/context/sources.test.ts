import { mkdir, mkdtemp, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadIgnoreRules } from "../../src/context/ignore.js";
import { resolveSources } from "../../src/context/sources.js";

let ctx: string;

beforeAll(async () => {
  ctx = await mkdtemp(path.join(tmpdir(), "tbuild-ctx-"));
  const files: Record<string, string> = {
    "app/main.go": "package main",
    "app/main_test.go": "package main",
    "app/docs/README.md": "# docs",
    "app/docs/notes.md": "notes",
    "node_modules/x/index.js": "x",
    "a.txt": "a",
    "b.txt": "b",
    "secret.env": "TOKEN=1",
    "Dockerfile": "FROM scratch",
  };
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(ctx, rel)), { recursive: true });
    await writeFile(path.join(ctx, rel), content);
  }
  await writeFile(path.join(ctx, ".dockerignore"), "# deps\nnode_modules\n*.env\n**/*.md\n!app/docs/README.md\n");
  await symlink("/etc/passwd", path.join(ctx, "escape"));
  await symlink("a.txt", path.join(ctx, "alias"));
});

const names = (trees: Awaited<ReturnType<typeof resolveSources>>): string[][] => trees.map((t) => t.entries.map((e) => e.rel));

describe("COPY sources in a build context", () => {
  it("applies .dockerignore, including a ! exception inside an excluded pattern", async () => {
    const rules = await loadIgnoreRules(ctx, undefined);
    const trees = await resolveSources(ctx, ["app"], rules);
    expect(trees).toHaveLength(1);
    expect(trees[0]!.kind).toBe("dir");
    expect(names(trees)[0]).toEqual(["docs", "docs/README.md", "main.go", "main_test.go"]);
  });

  it("does not see ignored files even when named directly", async () => {
    const rules = await loadIgnoreRules(ctx, undefined);
    await expect(resolveSources(ctx, ["secret.env"], rules)).rejects.toThrow(/not found in the build context \(or excluded by \.dockerignore\)/);
  });

  it("expands wildcards like Go's filepath.Match, in sorted order", async () => {
    const rules = await loadIgnoreRules(ctx, undefined);
    const trees = await resolveSources(ctx, ["*.txt", "app/*_test.go"], rules);
    expect(trees.map((t) => t.contextPath)).toEqual(["a.txt", "b.txt", "app/main_test.go"]);
  });

  it("applies --exclude patterns relative to the source", async () => {
    const rules = await loadIgnoreRules(ctx, undefined);
    const trees = await resolveSources(ctx, ["app"], rules, ["*_test.go", "docs"]);
    expect(names(trees)[0]).toEqual(["main.go"]);
  });

  it("refuses paths and symlinks that leave the context", async () => {
    const rules = await loadIgnoreRules(ctx, undefined);
    await expect(resolveSources(ctx, ["../etc/passwd"], rules)).rejects.toThrow(/outside the build context/);
    await expect(resolveSources(ctx, ["escape"], rules)).rejects.toThrow(/leads outside the build context/);
  });

  it("follows a top-level symlink that stays inside the context", async () => {
    const rules = await loadIgnoreRules(ctx, undefined);
    const trees = await resolveSources(ctx, ["alias"], rules);
    expect(trees[0]!.kind).toBe("file");
    expect(trees[0]!.entries[0]!.abs).toBe(path.join(await import("node:fs/promises").then((f) => f.realpath(ctx)), "a.txt"));
  });

  it("says when a wildcard matches nothing", async () => {
    const rules = await loadIgnoreRules(ctx, undefined);
    await expect(resolveSources(ctx, ["*.rs"], rules)).rejects.toThrow(/no source files were specified/);
  });

  it("prefers <Dockerfile>.dockerignore next to the Dockerfile", async () => {
    await writeFile(path.join(ctx, "Dockerfile.dockerignore"), "a.txt\n");
    const rules = await loadIgnoreRules(ctx, path.join(ctx, "Dockerfile"));
    const trees = await resolveSources(ctx, ["*.txt", "secret.env"], rules);
    expect(trees.map((t) => t.contextPath)).toEqual(["b.txt", "secret.env"]);
  });
});
