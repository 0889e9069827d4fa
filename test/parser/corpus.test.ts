// Realistic Dockerfiles (written for tbuild in the style of official images) must
// parse; a few facts per file are checked against the documented JSON form.
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseDockerfile, toJson } from "../../src/parser/index.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "corpus");

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

function parse(name: string, options: { buildArgs?: Record<string, string>; target?: string } = {}): Json {
  const text = readFileSync(join(dir, name), "utf8");
  return JSON.parse(JSON.stringify(toJson(parseDockerfile(text, { file: name, ...options }))));
}
const ins = (stage: Json, keyword: string): Json[] => stage.instructions.filter((i: Json) => i.keyword === keyword);
const envMap = (stage: Json): Record<string, string> =>
  Object.fromEntries(ins(stage, "ENV").flatMap((i: Json) => i.args.pairs.map((p: Json) => [p.key, p.value])));

describe("realistic corpus", () => {
  it("every corpus file parses", () => {
    const files = readdirSync(dir).filter((f) => f.endsWith(".Dockerfile"));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) {
      const j = parse(f);
      expect(j.file).toBe(f);
      expect(j.stages.length).toBeGreaterThan(0);
    }
  });

  it("node: four stages, runtime depends on deps and build", () => {
    const j = parse("node.Dockerfile");
    expect(j.directives).toEqual({ escape: "\\", syntax: "docker/dockerfile:1" });
    expect(j.metaArgs).toEqual([
      { key: "NODE_VERSION", value: "20.12.2" },
      { key: "ALPINE_VERSION", value: "3.19" },
    ]);
    expect(j.stages.map((s: Json) => s.name)).toEqual(["base", "deps", "build", "runtime"]);
    expect(j.stages[0].base).toBe("node:20.12.2-alpine3.19");
    expect(j.stages[0].lines).toEqual([6, 9]);
    expect(envMap(j.stages[0])).toEqual({ NODE_ENV: "production", NPM_CONFIG_LOGLEVEL: "warn" });
    expect(j.target).toBe(3);
    const rt = j.stages[3];
    expect(rt.baseStage).toBe(0);
    expect(rt.dependsOn).toEqual([0, 1, 2]);
    const hc = ins(rt, "HEALTHCHECK")[0];
    expect(hc.lines).toEqual([29, 30]);
    expect(hc.flags).toEqual({ interval: "30s", timeout: "3s" });
    expect(hc.args.test).toEqual(["CMD-SHELL", "wget -qO- http://localhost:3000/healthz || exit 1"]);
    expect(ins(rt, "CMD")[0].args).toEqual({ form: "exec", command: ["node", "dist/server.js"] });
    expect(ins(j.stages[1], "RUN")[0]).toMatchObject({
      lines: [13, 14],
      flags: { mount: ["type=cache,target=/root/.npm"] },
      args: { form: "shell", command: "npm ci --omit=dev" },
    });
  });

  it("node: --target build keeps base and build only", () => {
    const j = parse("node.Dockerfile", { target: "build", buildArgs: { NODE_VERSION: "22.1.0" } });
    expect(j.target).toBe(2);
    expect(j.stages.map((s: Json) => s.index)).toEqual([0, 2]);
    expect(j.stages[0].base).toBe("node:22.1.0-alpine3.19");
  });

  it("python: tab-indented continuation of the apt RUN", () => {
    const j = parse("python.Dockerfile");
    expect(j.stages).toHaveLength(1);
    const s = j.stages[0];
    expect(s.base).toBe("python:3.12-slim-bookworm");
    expect(Object.keys(envMap(s))).toEqual(["PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"]);
    const apt = ins(s, "RUN")[0];
    expect(apt.lines).toEqual([9, 15]);
    expect(apt.args.command.startsWith("set -eux; \tapt-get update; ")).toBe(true);
    expect(apt.args.command).toContain("\t\tlibpq5 \t; \trm -rf /var/lib/apt/lists/*");
    expect(apt.args.command.endsWith("/var/lib/apt/lists/*")).toBe(true);
    expect(ins(s, "USER")[0].args).toEqual({ user: "appuser" });
    expect(ins(s, "ENTRYPOINT")[0].args).toEqual({ form: "exec", command: ["gunicorn"] });
  });

  it("postgres: legacy ENV form and expansion", () => {
    const s = parse("postgres.Dockerfile").stages[0];
    const env = envMap(s);
    expect(env.GOSU_VERSION).toBe("1.17");
    expect(env.PG_MAJOR).toBe("16");
    expect(env.PG_VERSION).toBe("16.2-1.pgdg120+2");
    expect(env.PATH?.endsWith(":/usr/lib/postgresql/16/bin")).toBe(true);
    expect(ins(s, "VOLUME")[0].args).toEqual({ paths: ["/var/lib/postgresql/data"] });
    expect(ins(s, "STOPSIGNAL")[0].args).toEqual({ signal: "SIGINT" });
    expect(ins(s, "EXPOSE")[0].args).toEqual({ ports: ["5432"] });
    expect(ins(s, "COPY")[0].args).toEqual({ sources: ["docker-entrypoint.sh", "docker-ensure-initdb.sh"], dest: "/usr/local/bin/" });
    // RUN is not expanded.
    expect(ins(s, "RUN")[2].args.command).toBe('mkdir -p "$PGDATA" && chown -R postgres:postgres "$PGDATA" && chmod 1777 "$PGDATA"');
  });

  it("nginx: comment lines inside a continuation are dropped", () => {
    const s = parse("nginx.Dockerfile").stages[0];
    expect(ins(s, "LABEL")[0].args).toEqual({ pairs: [{ key: "maintainer", value: "NGINX Docker Maintainers <docker-maint@nginx.com>" }] });
    expect(envMap(s)).toEqual({ NGINX_VERSION: "1.25.4", NJS_VERSION: "0.8.3", PKG_RELEASE: "1" });
    const run = ins(s, "RUN")[0];
    expect(run.lines).toEqual([9, 17]);
    expect(run.args.command).not.toContain("create nginx user");
    expect(run.args.command).not.toContain("#");
    expect(run.args.command).toContain("openssl     && ln -sf /dev/stdout /var/log/nginx/access.log");
    expect(ins(s, "CMD")[0].args.command).toEqual(["nginx", "-g", "daemon off;"]);
  });

  it("golang: multi-stage with cache and bind mounts", () => {
    const j = parse("golang-multistage.Dockerfile");
    expect(j.directives.syntax).toBe("docker/dockerfile:1.7");
    expect(j.stages).toHaveLength(2);
    expect(j.stages[0]).toMatchObject({ name: "build", base: "golang:1.22-bookworm" });
    const runs = ins(j.stages[0], "RUN");
    expect(runs[0].flags.mount).toHaveLength(3);
    expect(runs[0].args.command).toBe("go mod download -x");
    expect(runs[1].lines).toEqual([11, 13]);
    expect(runs[1].flags.mount).toEqual(["type=cache,target=/go/pkg/mod", "type=bind,target=."]);
    expect(runs[1].args.command).toBe("CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /bin/server ./cmd/server");
    expect(j.stages[1]).toMatchObject({ name: "final", base: "gcr.io/distroless/static-debian12:nonroot", baseStage: null, dependsOn: [0] });
    expect(ins(j.stages[1], "USER")[0].args).toEqual({ user: "nonroot:nonroot" });
  });

  it("buildkit features: heredocs, cache mounts, COPY --link/--exclude, ADD --checksum", () => {
    const j = parse("buildkit-features.Dockerfile");
    expect(j.directives).toEqual({ escape: "\\", syntax: "docker/dockerfile:1.7-labs", check: "error=true" });
    expect(j.stages.map((s: Json) => s.base)).toEqual(["debian:bookworm-slim", "base", "scratch", "debian:bookworm-slim"]);
    const aptRun = ins(j.stages[0], "RUN")[1];
    expect(aptRun.lines).toEqual([9, 14]);
    expect(aptRun.flags.mount).toEqual([
      "type=cache,target=/var/cache/apt,sharing=locked",
      "type=cache,target=/var/lib/apt,sharing=locked",
    ]);
    expect(aptRun.args).toEqual({
      form: "shell",
      command: "<<EOT",
      heredocs: [{ name: "EOT", content: "set -e\napt-get update\napt-get install -y --no-install-recommends gcc libc6-dev make\n", expand: true, chomp: false }],
    });
    expect(ins(j.stages[1], "COPY")[0].flags).toEqual({ link: true, exclude: ["*.md", "docs/"] });
    expect(ins(j.stages[1], "RUN")[0].flags.mount).toEqual(["type=secret,id=netrc,target=/root/.netrc", "type=ssh"]);
    expect(j.stages[2]).toMatchObject({ name: "export", dependsOn: [1] });
    const rt = j.stages[3];
    expect(rt.dependsOn).toEqual([1]);
    const entry = ins(rt, "COPY")[0];
    expect(entry.lines).toEqual([27, 30]);
    expect(entry.flags).toEqual({ link: true, chmod: "0755" });
    expect(entry.args).toEqual({
      sources: [],
      dest: "/usr/local/bin/entrypoint",
      heredocs: [{ name: "EOF", content: '#!/bin/sh\nexec "$@"\n', expand: false, chomp: true }],
    });
    const add = ins(rt, "ADD")[0];
    expect(add.lines).toEqual([32, 33]);
    expect(add.flags.link).toBe(true);
    expect(add.flags.checksum).toMatch(/^sha256:5b2a6c/);
    expect(add.args).toEqual({ sources: ["https://example.com/ca.pem"], dest: "/etc/ssl/certs/extra.pem" });
  });

  it("buildkit features: --target export needs build and base", () => {
    const j = parse("buildkit-features.Dockerfile", { target: "export" });
    expect(j.target).toBe(2);
    expect(j.stages.map((s: Json) => s.index)).toEqual([0, 1, 2]);
  });

  it("rust: cargo-chef stage graph", () => {
    const j = parse("rust.Dockerfile");
    expect(j.stages.map((s: Json) => [s.name, s.baseStage, s.dependsOn])).toEqual([
      ["chef", null, []],
      ["planner", 0, [0]],
      ["builder", 0, [0, 1]],
      ["runtime", null, [2]],
    ]);
    const pruned = parse("rust.Dockerfile", { target: "runtime" });
    expect(pruned.stages.map((s: Json) => s.index)).toEqual([0, 1, 2, 3]);
    expect(parse("rust.Dockerfile", { target: "planner" }).stages.map((s: Json) => s.index)).toEqual([0, 1]);
  });

  it("windows: backtick escape keeps backslashes literal", () => {
    const j = parse("windows.Dockerfile");
    expect(j.directives.escape).toBe("`");
    const s = j.stages[0];
    expect(ins(s, "SHELL")[0].args.shell).toEqual(["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]);
    expect(envMap(s)).toEqual({ APP_HOME: "C:\\app" });
    expect(ins(s, "WORKDIR")[0].args).toEqual({ path: "C:\\app" });
    const run = ins(s, "RUN")[0];
    expect(run.lines).toEqual([7, 8]);
    expect(run.args.command).toBe("New-Item -ItemType Directory -Path C:\\data ;     Write-Host 'done'");
    expect(ins(s, "COPY")[0].args).toEqual({ sources: ["app\\"], dest: "C:\\app\\" });
    expect(ins(s, "CMD")[0].args).toEqual({ form: "exec", command: ["C:\\app\\server.exe"] });
  });

  it("redis: lines holding only an escape continue the instruction", () => {
    const s = parse("redis.Dockerfile").stages[0];
    const runs = ins(s, "RUN");
    expect(runs).toHaveLength(3);
    expect(runs[1].lines).toEqual([10, 22]);
    expect(runs[1].args.command).toContain('wget -O redis.tar.gz "$REDIS_DOWNLOAD_URL";');
    expect(runs[1].args.command.endsWith("make -C /usr/src/redis install")).toBe(true);
    expect(envMap(s).REDIS_VERSION).toBe("7.2.4");
    expect(ins(s, "VOLUME")[0].args).toEqual({ paths: ["/data"] });
  });

  it("java: ARG expanded in COPY dest, ENV quotes removed, ENTRYPOINT not expanded", () => {
    const j = parse("java-maven.Dockerfile");
    expect(j.stages).toHaveLength(2);
    const s = j.stages[1];
    expect(s.name).toBeNull();
    expect(s.dependsOn).toEqual([0]);
    expect(ins(s, "COPY")[0].args).toEqual({ sources: ["/workspace/target/*.jar"], dest: "/opt/app.jar" });
    expect(ins(s, "LABEL")[0]).toMatchObject({
      lines: [10, 11],
      args: { pairs: [
        { key: "org.opencontainers.image.title", value: "demo" },
        { key: "org.opencontainers.image.source", value: "https://github.com/example/demo" },
      ] },
    });
    expect(envMap(s)).toEqual({ JAVA_OPTS: "-XX:MaxRAMPercentage=75" });
    expect(ins(s, "ENTRYPOINT")[0].args.command).toEqual(["sh", "-c", "exec java $JAVA_OPTS -jar /opt/app.jar"]);
  });

  it("onbuild base image: triggers kept as text", () => {
    const s = parse("onbuild-base.Dockerfile").stages[0];
    expect(ins(s, "ONBUILD").map((i: Json) => i.args.trigger)).toEqual([
      "COPY Gemfile /usr/src/app/",
      "COPY Gemfile.lock /usr/src/app/",
      "RUN bundle install",
      "COPY . /usr/src/app",
    ]);
    expect(ins(s, "MAINTAINER")[0].args).toEqual({ maintainer: "Example Maintainers <maint@example.com>" });
  });

  it("php: COPY --from an image adds no dependency; HEALTHCHECK exec with flags", () => {
    const s = parse("php-apache.Dockerfile").stages[0];
    expect(s.dependsOn).toEqual([]);
    expect(ins(s, "COPY")[0].flags).toEqual({ from: "composer:2" });
    const hc = ins(s, "HEALTHCHECK")[0];
    expect(hc.flags).toEqual({ interval: "1m", timeout: "10s", "start-period": "30s", retries: "3" });
    expect(hc.args.test).toEqual(["CMD", "curl", "-f", "http://localhost/"]);
    expect(ins(s, "RUN")[0].args.command).toContain("s!/var/www/html!${APACHE_DOCUMENT_ROOT}!g");
    expect(ins(s, "RUN")[0].lines).toEqual([4, 5]);
  });
});
