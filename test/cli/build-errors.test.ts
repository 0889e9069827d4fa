import { readdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { pullImage } from "../../src/store/registry-transfer.js";
import { openStore } from "../../src/store/image-store.js";
import { BUSYBOX_BASE, context, freshRoot } from "../builder/helpers.js";
import { tbuild } from "./helpers.js";

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** A loopback port nothing listens on: bound by the kernel's choice, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("build refuses bad input before any step runs", () => {
  it("checks every -t name first, saying what is wrong with it", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo built > /f\n" });
    const cases: [string, string][] = [
      ["Foo:Bar", "tbuild: invalid image reference 'Foo:Bar': repository names must be lowercase\n"],
      ["a:b:c", "tbuild: invalid image reference 'a:b:c': 'a:b' is not a valid path component (lowercase letters, digits and single separators . _ __ -)\n"],
      ["app:-x", "tbuild: invalid image reference 'app:-x': tag '-x' may contain only letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')\n"],
      [`app@sha256:${"a".repeat(64)}`, `tbuild: cannot tag the image as 'app@sha256:${"a".repeat(64)}': a tag may not contain a digest\n`],
    ];
    for (const [tag, message] of cases) {
      const root = freshRoot();
      // A good name first: the bad one is found wherever it is in the list.
      const r = await tbuild(["build", "--root", root, "-t", "good:1", `--tag=${tag}`, ctx]);
      expect(r.code, tag).toBe(1);
      expect(r.stderr.split("hint:")[0]).toBe(message);
      // Nothing ran: no progress line, no layer in the store.
      expect(r.stderr).not.toMatch(/^#/m);
      expect(readdirSync(root)).toEqual([]);
    }
  }, 300_000);
});

describe("a base image that cannot be pulled", () => {
  it("names the Dockerfile line of the FROM or COPY --from that needed it", async () => {
    const port = await closedPort();
    const image = `127.0.0.1:${port}/nothing/here:1`;
    const refused = `pulling ${image}: connect to 127.0.0.1:${port}: connection refused: nothing is listening on 127.0.0.1:${port}\n`;
    const hint = `hint: check that the registry is running and that the host and port (127.0.0.1:${port}) are right\n`;

    const from = context({ Dockerfile: `# syntax=docker/dockerfile:1\nARG BASE=${image}\nFROM \${BASE}\nRUN true\n` });
    const r = await tbuild(["build", "--root", freshRoot(), "-q", from]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`(^|\n)${escape(`tbuild: ${path.join(from, "Dockerfile")}:3: ${refused}${hint}`)}$`));

    const copyFrom = context({ Dockerfile: `FROM scratch\nCOPY busybox /bin/busybox\nCOPY --from=${image} /etc/passwd /etc/passwd\n` });
    const c = await tbuild(["build", "--root", freshRoot(), "-q", copyFrom]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(new RegExp(`(^|\n)${escape(`tbuild: ${path.join(copyFrom, "Dockerfile")}:3: ${refused}${hint}`)}$`));
  }, 300_000);

  it("fails at once when nothing listens on the registry's port, instead of retrying for a quarter of a minute", async () => {
    const port = await closedPort();
    const store = await openStore(freshRoot());
    const started = performance.now();
    // The default retry settings (5 retries, backoff from 0.5 s: about 16 s in all for a flaky registry).
    const err = await pullImage(`127.0.0.1:${port}/app:1`, { store }).catch((e: unknown) => e);
    const seconds = (performance.now() - started) / 1000;
    expect(err).toMatchObject({ category: "unavailable", temporary: false, message: `connect to 127.0.0.1:${port}: connection refused: nothing is listening on 127.0.0.1:${port}` });
    expect(seconds).toBeLessThan(3);
  }, 300_000);
});
