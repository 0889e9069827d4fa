import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/image-store.js";
import { makeImage, tempDir } from "../store/helpers.js";
import { tbuild } from "./helpers.js";

/** A store with a Docker Hub image, a registry image with a port, and an untagged one, all created 2024-01-02T03:04:05Z. */
async function sampleStore(): Promise<{ root: string; ids: { busybox: string; app: string; none: string } }> {
  const root = await tempDir();
  const store = await openStore(root);
  const busybox = await makeImage(store, "busybox", [{ bin: "b" }]);
  const app = await makeImage(store, "localhost:5000/me/app:v2", [{ shared: "s" }, { own: "o" }]);
  const none = await makeImage(store, undefined, [{ other: "x" }]);
  const short = (d: string): string => d.slice("sha256:".length, "sha256:".length + 12);
  return { root, ids: { busybox: short(busybox.digest), app: short(app.digest), none: short(none.digest) } };
}

describe("tbuild images", () => {
  it("lists docker's REPOSITORY, TAG, IMAGE ID, CREATED and SIZE columns, and IDs the other commands take", async () => {
    const { root, ids } = await sampleStore();
    const r = await tbuild(["images", "--root", root]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^REPOSITORY {3,}TAG {3,}IMAGE ID {3,}CREATED {3,}SIZE$/);
    // Columns line up: every row's TAG starts where the header's does.
    const tagColumn = lines[0]!.indexOf("TAG");
    expect(lines.slice(1).map((l) => l.slice(0, tagColumn).trimEnd())).toEqual(["<none>", "busybox", "localhost:5000/me/app"]);
    expect(lines[2]).toMatch(new RegExp(`^busybox +latest +${ids.busybox} +\\d+ (year|month)s? ago +\\d+B$`));
    expect(lines[3]).toMatch(new RegExp(`^localhost:5000/me/app +v2 +${ids.app} +`));
    expect(lines[1]).toMatch(new RegExp(`^<none> +<none> +${ids.none} +`));
    const inspected = await tbuild(["inspect", "--root", root, ids.app]);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ name: "localhost:5000/me/app:v2" });
  }, 300_000);

  it("-q prints only the IDs, one per name, as docker images -q does", async () => {
    const { root, ids } = await sampleStore();
    expect((await tbuild(["images", "--root", root, "-q"])).stdout).toBe(`${ids.none}\n${ids.busybox}\n${ids.app}\n`);
    expect((await tbuild(["images", "--root", root, "--quiet", "--no-trunc"])).stdout).toMatch(/^(sha256:[0-9a-f]{64}\n){3}$/);
  }, 300_000);

  it("--format takes docker's {{.Field}} templates, 'table' and 'json'", async () => {
    const { root, ids } = await sampleStore();
    expect((await tbuild(["images", "--root", root, "--format", "{{.Repository}}:{{.Tag}}"])).stdout).toBe("<none>:<none>\nbusybox:latest\nlocalhost:5000/me/app:v2\n");
    expect((await tbuild(["images", "--root", root, "--format", "{{.ID}}\\t{{.CreatedAt}}"])).stdout).toBe(
      [ids.none, ids.busybox, ids.app].map((id) => `${id}\t2024-01-02 03:04:05 +0000 UTC\n`).join(""),
    );
    const table = (await tbuild(["images", "--root", root, "--format", "table {{.Tag}}\\t{{.Size}}"])).stdout.split("\n");
    expect(table[0]).toBe("TAG      SIZE");
    expect(table[2]).toMatch(/^latest   \d+B$/);

    const json = (await tbuild(["images", "--root", root, "--format", "json"])).stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    expect(json).toHaveLength(3);
    expect(Object.keys(json[1]!)).toEqual(["CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "Size", "Tag"]);
    expect(json[1]).toMatchObject({ Repository: "busybox", Tag: "latest", ID: ids.busybox, CreatedAt: "2024-01-02 03:04:05 +0000 UTC", Digest: expect.stringMatching(new RegExp(`^sha256:${ids.busybox}[0-9a-f]{52}$`)) });
    expect(json[1]!["CreatedSince"]).toMatch(/ ago$/);
    expect(json[1]!["Size"]).toMatch(/^\d+B$/);
    // {{json .}} is the same object.
    expect((await tbuild(["images", "--root", root, "--format", "{{json .}}"])).stdout.split("\n")[1]).toBe(JSON.stringify(json[1]));
  }, 300_000);

  it("says what is wrong with a template it cannot run", async () => {
    const { root } = await sampleStore();
    const unknown = await tbuild(["images", "--root", root, "--format", "{{.Repositry}}"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("tbuild: --format: there is no field .Repositry; did you mean .Repository?\nhint: fields: Repository, Tag, Digest, ID, CreatedAt, CreatedSince, Size\n");
    const pipe = await tbuild(["images", "--root", root, "--format", "{{.ID | upper}}"]);
    expect(pipe.code).toBe(1);
    expect(pipe.stderr).toMatch(/^tbuild: --format: '\{\{\.ID \| upper\}\}' is not supported\n/);
  }, 300_000);
  it("--filter keeps what docker's filters keep: reference globs, dangling, labels, before and since", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    await makeImage(store, "busybox", [{ bin: "b" }], { created: "2024-01-01T00:00:00Z" });
    await makeImage(store, "localhost:5000/me/app:v2", [{ own: "o" }], { created: "2024-02-01T00:00:00Z", labels: { team: "web", tier: "front" } });
    await makeImage(store, "localhost:5000/me/app:v3", [{ own: "p" }], { created: "2024-03-01T00:00:00Z", labels: { team: "db" } });
    await makeImage(store, undefined, [{ other: "x" }], { created: "2024-04-01T00:00:00Z" });
    const names = async (...filters: string[]): Promise<string[]> => {
      const r = await tbuild(["images", "--root", root, "--format", "{{.Repository}}:{{.Tag}}", ...filters.flatMap((f) => ["--filter", f])]);
      expect(r.stderr).toBe("");
      return r.stdout.trimEnd().split("\n").filter((l) => l !== "");
    };
    expect(await names("reference=busy*")).toEqual(["busybox:latest"]);
    expect(await names("reference=localhost:5000/me/app:v3")).toEqual(["localhost:5000/me/app:v3"]);
    expect(await names("reference=*")).toEqual(["busybox:latest"]); // `*` stops at '/', as path.Match does
    expect(await names("dangling=true")).toEqual(["<none>:<none>"]);
    expect(await names("label=team")).toEqual(["localhost:5000/me/app:v2", "localhost:5000/me/app:v3"]);
    expect(await names("label=team=web")).toEqual(["localhost:5000/me/app:v2"]);
    expect(await names("since=localhost:5000/me/app:v2", "dangling=false")).toEqual(["localhost:5000/me/app:v3"]);
    expect(await names("before=localhost:5000/me/app:v2")).toEqual(["busybox:latest"]);
    const bad = await tbuild(["images", "--root", root, "--filter", "colour=red"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("tbuild: --filter: unknown filter 'colour'\nhint: filters: reference=..., dangling=..., label=..., before=..., since=...");
    expect((await tbuild(["images", "--root", root, "--filter", "since=nope"])).stderr).toContain("--filter since=nope: no such image in the store");
  }, 120_000);
});
