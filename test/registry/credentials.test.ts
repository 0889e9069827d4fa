/**
 * Credentials read and written the docker CLI's way: `auths`, `credsStore` and
 * `credHelpers` (a real `docker-credential-<name>` executable on PATH, written here as
 * a shell script), exact host matching, and the challenge parser.
 */
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseChallenge } from "../../src/registry/auth.js";
import { dockerConfigPath, dockerCredentials, eraseCredential, storeCredential } from "../../src/registry/credentials.js";
import { parsePlatform, platformMatches } from "../../src/oci/platform.js";
import { tempDir } from "../setup/registry.js";

let bin: string;
let helperStore: string;
const oldPath = process.env["PATH"];
beforeAll(async () => {
  bin = await tempDir();
  helperStore = join(bin, "store.json");
  await writeFile(helperStore, "{}");
  // A credential helper speaking the docker-credential-helpers protocol, backed by a JSON file.
  const script = `#!/bin/sh
input=$(cat)
node -e '
const fs = require("fs"); const [action, input, file] = process.argv.slice(1);
const db = JSON.parse(fs.readFileSync(file, "utf8"));
if (action === "get") { if (!db[input]) { process.stdout.write("credentials not found in native keychain"); process.exit(1); } process.stdout.write(JSON.stringify({ ServerURL: input, ...db[input] })); }
if (action === "store") { const c = JSON.parse(input); db[c.ServerURL] = { Username: c.Username, Secret: c.Secret }; fs.writeFileSync(file, JSON.stringify(db)); }
if (action === "erase") { delete db[input]; fs.writeFileSync(file, JSON.stringify(db)); }
' "$1" "$input" "${helperStore}"
`;
  await writeFile(join(bin, "docker-credential-testhelper"), script);
  await chmod(join(bin, "docker-credential-testhelper"), 0o755);
  process.env["PATH"] = `${bin}:${oldPath}`;
});
afterAll(() => {
  process.env["PATH"] = oldPath;
});

describe("docker config credentials", () => {
  it("finds the config through DOCKER_CONFIG, else in ~/.docker", () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: "/etc/ci/docker" })).toBe("/etc/ci/docker/config.json");
    expect(dockerConfigPath({})).toMatch(/\/\.docker\/config\.json$/);
  });

  it("matches hosts exactly, including the port, and knows Docker Hub's key", async () => {
    const file = join(await tempDir(), "config.json");
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    await writeFile(
      file,
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hubuser:hubpass") },
          "registry.example.com": { auth: b64("a:1") },
          "https://registry.example.com:5000/v2/": { auth: b64("b:2") },
          "ghcr.io": { identitytoken: "refresh-me" },
        },
      }),
    );
    const creds = dockerCredentials(file);
    expect(await creds("docker.io")).toEqual({ username: "hubuser", password: "hubpass" });
    expect(await creds("registry.example.com")).toEqual({ username: "a", password: "1" });
    expect(await creds("registry.example.com:5000")).toEqual({ username: "b", password: "2" });
    expect(await creds("ghcr.io")).toEqual({ identityToken: "refresh-me" });
    for (const lookalike of ["evil-registry.example.com", "a.registry.example.com", "registry.example.com.evil.net", "registry.example.com:5001"]) {
      expect(await creds(lookalike)).toBeUndefined();
    }
  });

  it("writes logins with mode 0600, keeping the rest of the file", async () => {
    const file = join(await tempDir(), "sub", "config.json");
    await storeCredential("localhost:5000", "me", "pw", file);
    const first = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...first, proxies: { default: { httpProxy: "x" } } }));
    await storeCredential("docker.io", "hub", "secret", file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(file, "utf8")) as { auths: Record<string, unknown>; proxies: unknown };
    expect(Object.keys(saved.auths).sort()).toEqual(["https://index.docker.io/v1/", "localhost:5000"]);
    expect(saved.proxies).toEqual({ default: { httpProxy: "x" } });
    expect(await eraseCredential("localhost:5000", file)).toBe(true);
    expect(await dockerCredentials(file)("localhost:5000")).toBeUndefined();
    expect(await eraseCredential("localhost:5000", file)).toBe(false);
  });

  it("stores in and reads from credsStore and credHelpers, never writing the secret to the file", async () => {
    const file = join(await tempDir(), "config.json");
    await writeFile(file, JSON.stringify({ credsStore: "testhelper" }));
    await storeCredential("reg.example.com", "helped", "s3cret", file);
    expect(await readFile(file, "utf8")).not.toContain("s3cret");
    expect(await dockerCredentials(file)("reg.example.com")).toEqual({ username: "helped", password: "s3cret" });
    expect(await dockerCredentials(file)("other.example.com")).toBeUndefined();

    const perHost = join(await tempDir(), "config.json");
    await writeFile(perHost, JSON.stringify({ credHelpers: { "reg.example.com": "testhelper", "broken.example.com": "missing" } }));
    expect(await dockerCredentials(perHost)("reg.example.com")).toEqual({ username: "helped", password: "s3cret" });
    await expect(dockerCredentials(perHost)("broken.example.com")).rejects.toMatchObject({
      message: "credential helper docker-credential-missing is not installed (or not executable) on PATH during 'get'",
    });
    await eraseCredential("reg.example.com", file);
    expect(await dockerCredentials(file)("reg.example.com")).toBeUndefined();
  });
});

describe("WWW-Authenticate challenges", () => {
  it("parses Bearer parameters, quoted commas and escapes included", () => {
    expect(parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example.com/token", service: "registry.example.com", scope: "repository:a/b:pull,push" },
    });
    expect(parseChallenge('Basic realm="say \\"hi\\""')).toEqual({ scheme: "basic", params: { realm: 'say "hi"' } });
  });
});

describe("platforms", () => {
  it("treats arm64 and arm64/v8 as the same and requires a named variant", () => {
    expect(platformMatches(parsePlatform("linux/arm64"), { os: "linux", architecture: "arm64", variant: "v8" })).toBe(true);
    expect(platformMatches(parsePlatform("linux/arm/v7"), { os: "linux", architecture: "arm", variant: "v6" })).toBe(false);
    expect(() => parsePlatform("linux")).toThrow(/invalid platform 'linux'/);
  });
});
