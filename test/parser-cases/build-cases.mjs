// Authoring aid for the parser test corpus. Every expected output below was worked
// out by hand from Docker's documented semantics (docs.docker.com Dockerfile
// reference, BuildKit's parser behaviour), NOT from tbuild's implementation.
//
// Run `node test/parser-cases/build-cases.mjs` to (re)write the case directories.
// The generated Dockerfile / expected.json / expected-error.json / options.json
// files are the corpus; this script only saves typing (defaults for stage and
// instruction fields). Dockerfiles are written as arrays of lines: line N of
// the Dockerfile is element N-1, joined with "\n" and a trailing "\n" unless
// `raw` is given.
import { mkdirSync, writeFileSync, rmSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));

/** Stage with defaults. */
function S(index, base, lines, instructions, o = {}) {
  return {
    index,
    name: o.name ?? null,
    base,
    platform: o.platform ?? null,
    baseStage: o.baseStage ?? null,
    dependsOn: o.dependsOn ?? [],
    lines,
    instructions,
  };
}
/** Instruction; `lines` may be a single number. */
function I(keyword, lines, args, flags = {}) {
  return { keyword, lines: typeof lines === "number" ? [lines, lines] : lines, flags, args };
}
const sh = (command) => ({ form: "shell", command });
const ex = (...command) => ({ form: "exec", command });
const hd = (name, content, expand = true, chomp = false) => ({ name, content, expand, chomp });
const pairs = (...kv) => ({ pairs: kv.map(([key, value]) => ({ key, value })) });
const args = (...kv) => ({ args: kv.map(([key, value]) => ({ key, value })) });
const cp = (sources, dest, heredocs) => (heredocs ? { sources, dest, heredocs } : { sources, dest });

function doc(stages, o = {}) {
  return {
    file: "Dockerfile",
    directives: { escape: "\\", ...(o.directives ?? {}) },
    metaArgs: (o.metaArgs ?? []).map(([key, value]) => ({ key, value })),
    target: o.target ?? stages[stages.length - 1].index,
    stages,
  };
}
const err = (line, message, extra = {}) => ({ line, message, ...extra });

const cases = [];
function ok(name, df, expected, options) {
  cases.push({ name, df, expected, options });
}
function bad(name, df, error, options) {
  cases.push({ name, df, error, options });
}

// ---------------------------------------------------------------- FROM
ok("from-simple", ["FROM alpine:3.19", "RUN echo hello"],
  doc([S(0, "alpine:3.19", [1, 2], [I("RUN", 2, sh("echo hello"))])]));

ok("from-scratch-empty-stage", ["FROM scratch"], doc([S(0, "scratch", [1, 1], [])]));

ok("from-platform-as", ["FROM --platform=linux/arm64 golang:1.22 AS Builder", "RUN go version"],
  doc([S(0, "golang:1.22", [1, 2], [I("RUN", 2, sh("go version"))], { name: "builder", platform: "linux/arm64" })]));

ok("from-meta-arg-expansion",
  ["ARG REGISTRY=docker.io", "ARG TAG=3.19", "FROM ${REGISTRY}/library/alpine:$TAG", "RUN echo $TAG"],
  doc([S(0, "docker.io/library/alpine:3.19", [3, 4], [I("RUN", 4, sh("echo $TAG"))])],
    { metaArgs: [["REGISTRY", "docker.io"], ["TAG", "3.19"]] }));

ok("from-meta-arg-build-arg-override",
  ["ARG REGISTRY=docker.io", "ARG TAG=3.19", "FROM ${REGISTRY}/library/alpine:$TAG", "RUN echo $TAG"],
  doc([S(0, "docker.io/library/alpine:3.20", [3, 4], [I("RUN", 4, sh("echo $TAG"))])],
    { metaArgs: [["REGISTRY", "docker.io"], ["TAG", "3.20"]] }),
  { buildArgs: { TAG: "3.20", NOT_DECLARED: "x" } });

ok("from-meta-arg-platform",
  ["ARG PLATFORM=linux/amd64", "FROM --platform=$PLATFORM debian:bookworm AS base", "RUN uname -m"],
  doc([S(0, "debian:bookworm", [2, 3], [I("RUN", 3, sh("uname -m"))], { name: "base", platform: "linux/amd64" })],
    { metaArgs: [["PLATFORM", "linux/amd64"]] }));

ok("meta-arg-no-value-default-modifier", ["ARG BASE", "FROM ${BASE:-busybox}"],
  doc([S(0, "busybox", [2, 2], [])], { metaArgs: [["BASE", null]] }));

ok("meta-arg-no-value-build-arg", ["ARG BASE", "FROM ${BASE:-busybox}"],
  doc([S(0, "alpine:edge", [2, 2], [])], { metaArgs: [["BASE", "alpine:edge"]] }),
  { buildArgs: { BASE: "alpine:edge" } });

ok("meta-arg-chain", ["ARG MAJOR=1", "ARG VERSION=${MAJOR}.22", "FROM golang:$VERSION"],
  doc([S(0, "golang:1.22", [3, 3], [])], { metaArgs: [["MAJOR", "1"], ["VERSION", "1.22"]] }));

// ---------------------------------------------------------------- stages & deps
ok("stage-from-stage",
  ["FROM alpine AS base", "RUN apk add curl", "FROM base AS final", "RUN curl --version"],
  doc([
    S(0, "alpine", [1, 2], [I("RUN", 2, sh("apk add curl"))], { name: "base" }),
    S(1, "base", [3, 4], [I("RUN", 4, sh("curl --version"))], { name: "final", baseStage: 0, dependsOn: [0] }),
  ]));

ok("copy-from-stage-name-case-insensitive",
  ["FROM golang:1.22 AS Build", "RUN go build -o /out/app .", "FROM alpine", "COPY --from=BUILD /out/app /usr/bin/app"],
  doc([
    S(0, "golang:1.22", [1, 2], [I("RUN", 2, sh("go build -o /out/app ."))], { name: "build" }),
    S(1, "alpine", [3, 4], [I("COPY", 4, cp(["/out/app"], "/usr/bin/app"), { from: "BUILD" })], { dependsOn: [0] }),
  ]));

ok("copy-from-index",
  ["FROM golang:1.22", "RUN go build -o /out/app .", "FROM alpine", "COPY --from=0 /out/app /usr/bin/app"],
  doc([
    S(0, "golang:1.22", [1, 2], [I("RUN", 2, sh("go build -o /out/app ."))]),
    S(1, "alpine", [3, 4], [I("COPY", 4, cp(["/out/app"], "/usr/bin/app"), { from: "0" })], { dependsOn: [0] }),
  ]));

ok("copy-from-image",
  ["FROM alpine", "COPY --from=nginx:1.25 /etc/nginx/nginx.conf /etc/nginx/"],
  doc([S(0, "alpine", [1, 2], [I("COPY", 2, cp(["/etc/nginx/nginx.conf"], "/etc/nginx/"), { from: "nginx:1.25" })])]));

ok("copy-from-arg-expanded",
  ["FROM golang AS builder", "RUN make", "FROM alpine", "ARG SRC_STAGE=builder", "COPY --from=$SRC_STAGE /out /out"],
  doc([
    S(0, "golang", [1, 2], [I("RUN", 2, sh("make"))], { name: "builder" }),
    S(1, "alpine", [3, 5], [
      I("ARG", 4, args(["SRC_STAGE", "builder"])),
      I("COPY", 5, cp(["/out"], "/out"), { from: "builder" }),
    ], { dependsOn: [0] }),
  ]));

ok("run-mount-from-stage",
  ["FROM golang AS build", "RUN go build -o /out/app", "FROM debian",
    "RUN --mount=type=bind,from=build,source=/out,target=/mnt/out cp /mnt/out/app /usr/local/bin/"],
  doc([
    S(0, "golang", [1, 2], [I("RUN", 2, sh("go build -o /out/app"))], { name: "build" }),
    S(1, "debian", [3, 4], [I("RUN", 4, sh("cp /mnt/out/app /usr/local/bin/"),
      { mount: ["type=bind,from=build,source=/out,target=/mnt/out"] })], { dependsOn: [0] }),
  ]));

ok("run-mount-from-image-no-dep",
  ["FROM alpine", "RUN --mount=from=busybox:1.36,source=/bin/busybox,target=/bb /bb true"],
  doc([S(0, "alpine", [1, 2], [I("RUN", 2, sh("/bb true"), { mount: ["from=busybox:1.36,source=/bin/busybox,target=/bb"] })])]));

ok("depends-on-sorted-unique",
  ["FROM alpine AS a", "RUN touch /a", "FROM alpine AS b", "RUN touch /b", "FROM b AS c",
    "COPY --from=a /a /a", "COPY --from=0 /a /a2", "RUN --mount=type=bind,from=a,target=/m ls /m"],
  doc([
    S(0, "alpine", [1, 2], [I("RUN", 2, sh("touch /a"))], { name: "a" }),
    S(1, "alpine", [3, 4], [I("RUN", 4, sh("touch /b"))], { name: "b" }),
    S(2, "b", [5, 8], [
      I("COPY", 6, cp(["/a"], "/a"), { from: "a" }),
      I("COPY", 7, cp(["/a"], "/a2"), { from: "0" }),
      I("RUN", 8, sh("ls /m"), { mount: ["type=bind,from=a,target=/m"] }),
    ], { name: "c", baseStage: 1, dependsOn: [0, 1] }),
  ]));

const pruneDf = [
  "FROM alpine AS base", "RUN apk add build-base",
  "FROM base AS build", "RUN make",
  "FROM build AS test", "RUN make test",
  "FROM alpine AS docs", "RUN echo docs",
  "FROM alpine AS release", "COPY --from=build /out/app /app",
];
const pruneStages = [
  S(0, "alpine", [1, 2], [I("RUN", 2, sh("apk add build-base"))], { name: "base" }),
  S(1, "base", [3, 4], [I("RUN", 4, sh("make"))], { name: "build", baseStage: 0, dependsOn: [0] }),
  S(2, "build", [5, 6], [I("RUN", 6, sh("make test"))], { name: "test", baseStage: 1, dependsOn: [1] }),
  S(3, "alpine", [7, 8], [I("RUN", 8, sh("echo docs"))], { name: "docs" }),
  S(4, "alpine", [9, 10], [I("COPY", 10, cp(["/out/app"], "/app"), { from: "build" })], { name: "release", dependsOn: [1] }),
];
ok("no-target-keeps-all-stages", pruneDf, doc(pruneStages));
ok("target-prunes-unneeded", pruneDf, doc([pruneStages[0], pruneStages[1]], { target: 1 }), { target: "build" });
ok("target-transitive-copy-from", pruneDf, doc([pruneStages[0], pruneStages[1], pruneStages[4]], { target: 4 }), { target: "release" });
ok("target-middle-stage", pruneDf, doc([pruneStages[0], pruneStages[1], pruneStages[2]], { target: 2 }), { target: "test" });

// ---------------------------------------------------------------- RUN
ok("run-shell-continuation",
  ["FROM debian", "RUN apt-get update \\", "    && apt-get install -y curl \\", "    && rm -rf /var/lib/apt/lists/*"],
  doc([S(0, "debian", [1, 4], [I("RUN", [2, 4],
    sh("apt-get update     && apt-get install -y curl     && rm -rf /var/lib/apt/lists/*"))])]));

ok("run-exec-form", ["FROM alpine", 'RUN ["/bin/sh", "-c", "echo \\"hi\\" > /x"]'],
  doc([S(0, "alpine", [1, 2], [I("RUN", 2, ex("/bin/sh", "-c", 'echo "hi" > /x'))])]));

ok("run-invalid-json-falls-back-to-shell", ["FROM alpine", "RUN [\"echo\", 'single quotes']"],
  doc([S(0, "alpine", [1, 2], [I("RUN", 2, sh("[\"echo\", 'single quotes']"))])]));

ok("run-network-security", ["FROM alpine", "RUN --network=none --security=insecure make test"],
  doc([S(0, "alpine", [1, 2], [I("RUN", 2, sh("make test"), { network: "none", security: "insecure" })])]));

ok("run-mount-multiple",
  ["FROM python:3.12", "RUN --mount=type=cache,target=/root/.cache/pip \\", "    --mount=type=secret,id=token \\",
    "    pip install -r requirements.txt"],
  doc([S(0, "python:3.12", [1, 4], [I("RUN", [2, 4], sh("pip install -r requirements.txt"),
    { mount: ["type=cache,target=/root/.cache/pip", "type=secret,id=token"] })])]));

ok("run-mount-expanded-command-not",
  ["FROM golang", "ARG CACHE=/go/cache", "RUN --mount=type=cache,target=$CACHE go build -o $CACHE/out"],
  doc([S(0, "golang", [1, 3], [
    I("ARG", 2, args(["CACHE", "/go/cache"])),
    I("RUN", 3, sh("go build -o $CACHE/out"), { mount: ["type=cache,target=/go/cache"] }),
  ])]));

ok("run-comment-lines-in-continuation",
  ["FROM alpine", "RUN apk add --no-cache \\", "# the web server", "    nginx \\", "    # and curl", "    curl"],
  doc([S(0, "alpine", [1, 6], [I("RUN", [2, 6], sh("apk add --no-cache     nginx     curl"))])]));

ok("run-empty-continuation-lines",
  ["FROM alpine", "RUN echo a \\", "", "    b \\", "   ", "    c"],
  doc([S(0, "alpine", [1, 6], [I("RUN", [2, 6], sh("echo a     b     c"))])]));

ok("run-hash-mid-line-not-comment", ["FROM alpine", "RUN echo \"#one\" # two"],
  doc([S(0, "alpine", [1, 2], [I("RUN", 2, sh("echo \"#one\" # two"))])]));

ok("run-trailing-whitespace-after-escape", ["FROM alpine", "RUN echo a \\  \t", "  b"],
  doc([S(0, "alpine", [1, 3], [I("RUN", [2, 3], sh("echo a   b"))])]));

ok("escape-at-end-of-file", { raw: "FROM alpine\nRUN echo hi \\" },
  doc([S(0, "alpine", [1, 2], [I("RUN", 2, sh("echo hi"))])]));

// ---------------------------------------------------------------- heredocs
ok("heredoc-run-basic", ["FROM alpine", "RUN <<EOF", "apk add curl", "echo done", "EOF", "RUN echo after"],
  doc([S(0, "alpine", [1, 6], [
    I("RUN", [2, 5], { ...sh("<<EOF"), heredocs: [hd("EOF", "apk add curl\necho done\n")] }),
    I("RUN", 6, sh("echo after")),
  ])]));

ok("heredoc-chomp-tabs", ["FROM alpine", "RUN <<-EOT", "\techo one", "\t\techo two", "\tEOT"],
  doc([S(0, "alpine", [1, 5], [I("RUN", [2, 5], { ...sh("<<-EOT"), heredocs: [hd("EOT", "echo one\necho two\n", true, true)] })])]));

ok("heredoc-quoted-single", ["FROM alpine", "RUN <<'EOF'", "echo $HOME", "EOF"],
  doc([S(0, "alpine", [1, 4], [I("RUN", [2, 4], { ...sh("<<'EOF'"), heredocs: [hd("EOF", "echo $HOME\n", false)] })])]));

ok("heredoc-quoted-double", ["FROM alpine", "RUN <<\"EOF\"", "echo $HOME", "EOF"],
  doc([S(0, "alpine", [1, 4], [I("RUN", [2, 4], { ...sh("<<\"EOF\""), heredocs: [hd("EOF", "echo $HOME\n", false)] })])]));

ok("heredoc-two-on-one-line",
  ["FROM alpine", "RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2", "I am", "first", "FILE1", "I am", "second", "FILE2"],
  doc([S(0, "alpine", [1, 8], [I("RUN", [2, 8], {
    ...sh("<<FILE1 cat > /file1 && <<FILE2 cat > /file2"),
    heredocs: [hd("FILE1", "I am\nfirst\n"), hd("FILE2", "I am\nsecond\n")],
  })])]));

ok("heredoc-python", ["FROM python:3.12-slim", "RUN python3 <<EOF", "import sys", "print(sys.version)", "EOF"],
  doc([S(0, "python:3.12-slim", [1, 5], [I("RUN", [2, 5], {
    ...sh("python3 <<EOF"), heredocs: [hd("EOF", "import sys\nprint(sys.version)\n")],
  })])]));

ok("heredoc-body-raw", ["FROM alpine", "RUN <<EOF", "# kept, not a comment", "echo a \\", "  b", "", "echo $HOME", "EOF", "RUN echo after"],
  doc([S(0, "alpine", [1, 9], [
    I("RUN", [2, 8], { ...sh("<<EOF"), heredocs: [hd("EOF", "# kept, not a comment\necho a \\\n  b\n\necho $HOME\n")] }),
    I("RUN", 9, sh("echo after")),
  ])]));

ok("heredoc-run-with-mount",
  ["FROM debian", "RUN --mount=type=cache,target=/var/cache/apt <<EOF", "apt-get update", "apt-get install -y git", "EOF"],
  doc([S(0, "debian", [1, 5], [I("RUN", [2, 5], {
    ...sh("<<EOF"), heredocs: [hd("EOF", "apt-get update\napt-get install -y git\n")],
  }, { mount: ["type=cache,target=/var/cache/apt"] })])]));

ok("heredoc-copy", ["FROM nginx", "COPY <<EOF /etc/nginx/conf.d/default.conf", "server { listen 80; }", "EOF"],
  doc([S(0, "nginx", [1, 4], [I("COPY", [2, 4], cp([], "/etc/nginx/conf.d/default.conf", [hd("EOF", "server { listen 80; }\n")]))])]));

ok("heredoc-copy-two-files", ["FROM alpine", "COPY --chmod=0644 <<one.txt <<two.txt /srv/", "1", "one.txt", "2", "two.txt"],
  doc([S(0, "alpine", [1, 6], [I("COPY", [2, 6],
    cp([], "/srv/", [hd("one.txt", "1\n"), hd("two.txt", "2\n")]), { chmod: "0644" })])]));

ok("heredoc-terminator-must-match-exactly", ["FROM alpine", "RUN <<EOF", " EOF", "EOF "  , "EOF", "RUN true"],
  doc([S(0, "alpine", [1, 6], [
    I("RUN", [2, 5], { ...sh("<<EOF"), heredocs: [hd("EOF", " EOF\nEOF \n")] }),
    I("RUN", 6, sh("true")),
  ])]));

// ---------------------------------------------------------------- COPY / ADD
ok("copy-flags",
  ["FROM alpine", "COPY --chown=app:app --chmod=0755 --link src/ /app/",
    "COPY --link=false --exclude=*.md --exclude=docs/ . /srv/", "COPY --parents ./a/b/c.txt ./x/y.txt /dst/"],
  doc([S(0, "alpine", [1, 4], [
    I("COPY", 2, cp(["src/"], "/app/"), { chown: "app:app", chmod: "0755", link: true }),
    I("COPY", 3, cp(["."], "/srv/"), { link: false, exclude: ["*.md", "docs/"] }),
    I("COPY", 4, cp(["./a/b/c.txt", "./x/y.txt"], "/dst/"), { parents: true }),
  ])]));

ok("add-flags",
  ["FROM alpine",
    "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/archive.tar.gz /tmp/",
    "ADD --keep-git-dir https://github.com/moby/buildkit.git#v0.13.0 /src",
    "ADD --chown=1000:1000 --chmod=644 --link files/ /opt/files/",
    "ADD --exclude=*.tmp --keep-git-dir=false rootfs.tar.xz /"],
  doc([S(0, "alpine", [1, 5], [
    I("ADD", 2, cp(["https://example.com/archive.tar.gz"], "/tmp/"),
      { checksum: "sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d" }),
    I("ADD", 3, cp(["https://github.com/moby/buildkit.git#v0.13.0"], "/src"), { "keep-git-dir": true }),
    I("ADD", 4, cp(["files/"], "/opt/files/"), { chown: "1000:1000", chmod: "644", link: true }),
    I("ADD", 5, cp(["rootfs.tar.xz"], "/"), { exclude: ["*.tmp"], "keep-git-dir": false }),
  ])]));

ok("copy-json-form", ["FROM alpine", 'COPY ["my file.txt", "other.txt", "/dest dir/"]'],
  doc([S(0, "alpine", [1, 2], [I("COPY", 2, cp(["my file.txt", "other.txt"], "/dest dir/"))])]));

ok("copy-expansion",
  ["FROM alpine", "ARG APP=/opt/app", "ENV SRC=build", "COPY --chown=${UID:-1000}:${GID:-1000} $SRC/ ${APP}/"],
  doc([S(0, "alpine", [1, 4], [
    I("ARG", 2, args(["APP", "/opt/app"])),
    I("ENV", 3, pairs(["SRC", "build"])),
    I("COPY", 4, cp(["build/"], "/opt/app/"), { chown: "1000:1000" }),
  ])]));

ok("copy-multiple-sources", ["FROM node:20", "WORKDIR /app", "COPY package.json package-lock.json ./"],
  doc([S(0, "node:20", [1, 3], [
    I("WORKDIR", 2, { path: "/app" }),
    I("COPY", 3, cp(["package.json", "package-lock.json"], "./")),
  ])]));

ok("copy-escaped-dollar-source", ["FROM alpine", "ENV X=ignored", "COPY \\$X.txt /literal/"],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["X", "ignored"])),
    I("COPY", 3, cp(["$X.txt"], "/literal/")),
  ])]));

// ---------------------------------------------------------------- ENV
ok("env-multiple-pairs", ["FROM alpine", "ENV A=1 B=two C=\"three four\" D='five six'"],
  doc([S(0, "alpine", [1, 2], [I("ENV", 2, pairs(["A", "1"], ["B", "two"], ["C", "three four"], ["D", "five six"]))])]));

ok("env-legacy-form", ["FROM alpine", "ENV GREETING hello big world", "ENV EMPTY_LOOKING x"],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["GREETING", "hello big world"])),
    I("ENV", 3, pairs(["EMPTY_LOOKING", "x"])),
  ])]));

ok("env-refers-to-previous",
  ["FROM alpine", "ENV A=hello", "ENV A=bye B=$A", "ENV C=\"${A} ${B}\""],
  doc([S(0, "alpine", [1, 4], [
    I("ENV", 2, pairs(["A", "hello"])),
    I("ENV", 3, pairs(["A", "bye"], ["B", "hello"])),
    I("ENV", 4, pairs(["C", "bye hello"])),
  ])]));

ok("env-same-instruction-not-visible", ["FROM alpine", "ENV X=1 Y=${X:-unset}"],
  doc([S(0, "alpine", [1, 2], [I("ENV", 2, pairs(["X", "1"], ["Y", "unset"]))])]));

ok("env-escapes-and-quotes",
  ["FROM alpine", "ENV HOMEDIR=/home/app", "ENV PRICE=\\$5 RAW='$HOMEDIR/x' DQ=\"$HOMEDIR/x\" MSG=\"say \\\"hi\\\"\" SP=a\\ b"],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["HOMEDIR", "/home/app"])),
    I("ENV", 3, pairs(["PRICE", "$5"], ["RAW", "$HOMEDIR/x"], ["DQ", "/home/app/x"], ["MSG", "say \"hi\""], ["SP", "a b"])),
  ])]));

ok("env-overrides-arg", ["FROM alpine", "ARG MODE=debug", "ENV MODE=release", "WORKDIR /app/$MODE"],
  doc([S(0, "alpine", [1, 4], [
    I("ARG", 2, args(["MODE", "debug"])),
    I("ENV", 3, pairs(["MODE", "release"])),
    I("WORKDIR", 4, { path: "/app/release" }),
  ])]));

ok("env-overrides-build-arg", ["FROM alpine", "ARG MODE=debug", "ENV MODE=release", "WORKDIR /app/$MODE"],
  doc([S(0, "alpine", [1, 4], [
    I("ARG", 2, args(["MODE", "debug"])),
    I("ENV", 3, pairs(["MODE", "release"])),
    I("WORKDIR", 4, { path: "/app/release" }),
  ])]), { buildArgs: { MODE: "profile" } });

ok("env-empty-value", ["FROM alpine", "ENV EMPTY=\"\" ALSO=", "WORKDIR /x${EMPTY}y"],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["EMPTY", ""], ["ALSO", ""])),
    I("WORKDIR", 3, { path: "/xy" }),
  ])]));

// ---------------------------------------------------------------- ARG
ok("arg-several-in-one-line", ["FROM alpine", "ARG A=1 B C=three", "WORKDIR /$A/$C/$B"],
  doc([S(0, "alpine", [1, 3], [
    I("ARG", 2, args(["A", "1"], ["B", null], ["C", "three"])),
    I("WORKDIR", 3, { path: "/1/three/" }),
  ])]));

ok("arg-build-arg-override",
  ["FROM alpine", "ARG VERSION=1.0", "ARG NOTSET", "WORKDIR /v/$VERSION/${NOTSET:-none}"],
  doc([S(0, "alpine", [1, 4], [
    I("ARG", 2, args(["VERSION", "1.0"])),
    I("ARG", 3, args(["NOTSET", null])),
    I("WORKDIR", 4, { path: "/v/2.0/given" }),
  ])]), { buildArgs: { VERSION: "2.0", NOTSET: "given" } });

ok("arg-default-refers-to-earlier-arg",
  ["FROM alpine", "ARG BASE_DIR=/opt", "ARG APP_DIR=${BASE_DIR}/app", "WORKDIR $APP_DIR"],
  doc([S(0, "alpine", [1, 4], [
    I("ARG", 2, args(["BASE_DIR", "/opt"])),
    I("ARG", 3, args(["APP_DIR", "/opt/app"])),
    I("WORKDIR", 4, { path: "/opt/app" }),
  ])]));

ok("arg-meta-redeclared-without-value",
  ["ARG VERSION=3.19", "FROM alpine:$VERSION", "ARG VERSION", "ENV APP_VERSION=$VERSION"],
  doc([S(0, "alpine:3.19", [2, 4], [
    I("ARG", 3, args(["VERSION", null])),
    I("ENV", 4, pairs(["APP_VERSION", "3.19"])),
  ])], { metaArgs: [["VERSION", "3.19"]] }));

ok("arg-meta-redeclared-with-build-arg",
  ["ARG VERSION=3.19", "FROM alpine:$VERSION", "ARG VERSION", "ENV APP_VERSION=$VERSION"],
  doc([S(0, "alpine:3.20", [2, 4], [
    I("ARG", 3, args(["VERSION", null])),
    I("ENV", 4, pairs(["APP_VERSION", "3.20"])),
  ])], { metaArgs: [["VERSION", "3.20"]] }), { buildArgs: { VERSION: "3.20" } });

ok("arg-meta-redeclared-with-new-default",
  ["ARG VERSION=3.19", "FROM alpine:$VERSION", "ARG VERSION=local", "ENV APP_VERSION=$VERSION"],
  doc([S(0, "alpine:3.19", [2, 4], [
    I("ARG", 3, args(["VERSION", "local"])),
    I("ENV", 4, pairs(["APP_VERSION", "local"])),
  ])], { metaArgs: [["VERSION", "3.19"]] }));

ok("arg-meta-not-visible-in-stage",
  ["ARG VERSION=3.19", "FROM alpine", "ENV V=x$VERSION", "RUN echo $VERSION"],
  doc([S(0, "alpine", [2, 4], [
    I("ENV", 3, pairs(["V", "x"])),
    I("RUN", 4, sh("echo $VERSION")),
  ])], { metaArgs: [["VERSION", "3.19"]] }));

ok("arg-scoped-to-stage",
  ["FROM alpine AS one", "ARG LEVEL=1", "WORKDIR /l$LEVEL", "FROM alpine AS two", "WORKDIR /l$LEVEL"],
  doc([
    S(0, "alpine", [1, 3], [I("ARG", 2, args(["LEVEL", "1"])), I("WORKDIR", 3, { path: "/l1" })], { name: "one" }),
    S(1, "alpine", [4, 5], [I("WORKDIR", 5, { path: "/l" })], { name: "two" }),
  ]));

ok("env-inherited-from-base-stage",
  ["FROM alpine AS base", "ENV APP_HOME=/srv/app", "ARG NOT_INHERITED=x", "FROM base", "WORKDIR $APP_HOME/${NOT_INHERITED:-none}"],
  doc([
    S(0, "alpine", [1, 3], [I("ENV", 2, pairs(["APP_HOME", "/srv/app"])), I("ARG", 3, args(["NOT_INHERITED", "x"]))], { name: "base" }),
    S(1, "base", [4, 5], [I("WORKDIR", 5, { path: "/srv/app/none" })], { baseStage: 0, dependsOn: [0] }),
  ]));

// ---------------------------------------------------------------- simple instructions
ok("workdir-and-user",
  ["FROM alpine", "ARG UID=1000", "WORKDIR /app", "WORKDIR src", "USER app:staff", "USER ${UID}:${GID:-${UID}}"],
  doc([S(0, "alpine", [1, 6], [
    I("ARG", 2, args(["UID", "1000"])),
    I("WORKDIR", 3, { path: "/app" }),
    I("WORKDIR", 4, { path: "src" }),
    I("USER", 5, { user: "app:staff" }),
    I("USER", 6, { user: "1000:1000" }),
  ])]));

ok("label-forms",
  ["FROM alpine", "LABEL version=\"1.0\" description=\"A \\\"quoted\\\" thing\" single='$NOT expanded'",
    "LABEL \"com.example.vendor\"=\"ACME Inc\"", "LABEL multi.a=one \\", "      multi.b=\"two words\""],
  doc([S(0, "alpine", [1, 5], [
    I("LABEL", 2, pairs(["version", "1.0"], ["description", "A \"quoted\" thing"], ["single", "$NOT expanded"])),
    I("LABEL", 3, pairs(["com.example.vendor", "ACME Inc"])),
    I("LABEL", [4, 5], pairs(["multi.a", "one"], ["multi.b", "two words"])),
  ])]));

ok("label-expanded", ["FROM alpine", "ARG VERSION=2.1.0", "LABEL org.opencontainers.image.version=$VERSION"],
  doc([S(0, "alpine", [1, 3], [
    I("ARG", 2, args(["VERSION", "2.1.0"])),
    I("LABEL", 3, pairs(["org.opencontainers.image.version", "2.1.0"])),
  ])]));

ok("expose-and-volume",
  ["FROM alpine", "ARG PORT=9000", "EXPOSE 80/tcp 53/udp 8080", "EXPOSE $PORT", "VOLUME [\"/data\", \"/var/log\"]", "VOLUME /cache /tmp/$PORT"],
  doc([S(0, "alpine", [1, 6], [
    I("ARG", 2, args(["PORT", "9000"])),
    I("EXPOSE", 3, { ports: ["80/tcp", "53/udp", "8080"] }),
    I("EXPOSE", 4, { ports: ["9000"] }),
    I("VOLUME", 5, { paths: ["/data", "/var/log"] }),
    I("VOLUME", 6, { paths: ["/cache", "/tmp/9000"] }),
  ])]));

ok("cmd-entrypoint-exec",
  ["FROM nginx", "ENTRYPOINT [\"/docker-entrypoint.sh\"]", "CMD [\"nginx\", \"-g\", \"daemon off;\"]"],
  doc([S(0, "nginx", [1, 3], [
    I("ENTRYPOINT", 2, ex("/docker-entrypoint.sh")),
    I("CMD", 3, ex("nginx", "-g", "daemon off;")),
  ])]));

ok("cmd-entrypoint-shell-not-expanded",
  ["FROM node:20", "ENV PORT=3000", "ENTRYPOINT exec node server.js --port $PORT", "CMD echo ${PORT} \\", "    done"],
  doc([S(0, "node:20", [1, 5], [
    I("ENV", 2, pairs(["PORT", "3000"])),
    I("ENTRYPOINT", 3, sh("exec node server.js --port $PORT")),
    I("CMD", [4, 5], sh("echo ${PORT}     done")),
  ])]));

ok("cmd-empty-exec", ["FROM alpine", "CMD []"],
  doc([S(0, "alpine", [1, 2], [I("CMD", 2, ex())])]));

ok("shell-instruction",
  ["FROM debian", "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]", "RUN curl -fsSL https://example.com | sh"],
  doc([S(0, "debian", [1, 3], [
    I("SHELL", 2, { shell: ["/bin/bash", "-o", "pipefail", "-c"] }),
    I("RUN", 3, sh("curl -fsSL https://example.com | sh")),
  ])]));

ok("healthcheck-all-flags-shell",
  ["FROM nginx", "HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --start-interval=2s --retries=3 \\",
    "  CMD curl -f http://localhost/ || exit 1"],
  doc([S(0, "nginx", [1, 3], [I("HEALTHCHECK", [2, 3], { test: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"] },
    { interval: "30s", timeout: "5s", "start-period": "1m", "start-interval": "2s", retries: "3" })])]));

ok("healthcheck-exec", ["FROM nginx", "HEALTHCHECK CMD [\"curl\", \"-f\", \"http://localhost/\"]"],
  doc([S(0, "nginx", [1, 2], [I("HEALTHCHECK", 2, { test: ["CMD", "curl", "-f", "http://localhost/"] })])]));

ok("healthcheck-none", ["FROM nginx", "HEALTHCHECK NONE"],
  doc([S(0, "nginx", [1, 2], [I("HEALTHCHECK", 2, { test: ["NONE"] })])]));

ok("stopsignal", ["FROM nginx", "STOPSIGNAL SIGQUIT", "ARG SIG=SIGTERM", "STOPSIGNAL $SIG"],
  doc([S(0, "nginx", [1, 4], [
    I("STOPSIGNAL", 2, { signal: "SIGQUIT" }),
    I("ARG", 3, args(["SIG", "SIGTERM"])),
    I("STOPSIGNAL", 4, { signal: "SIGTERM" }),
  ])]));

ok("onbuild-triggers",
  ["FROM node:20", "ONBUILD COPY package.json /app/", "ONBUILD RUN npm install && echo $HOME", "ONBUILD WORKDIR /app"],
  doc([S(0, "node:20", [1, 4], [
    I("ONBUILD", 2, { trigger: "COPY package.json /app/" }),
    I("ONBUILD", 3, { trigger: "RUN npm install && echo $HOME" }),
    I("ONBUILD", 4, { trigger: "WORKDIR /app" }),
  ])]));

ok("maintainer", ["FROM debian", "MAINTAINER Jane Doe <jane@example.com>"],
  doc([S(0, "debian", [1, 2], [I("MAINTAINER", 2, { maintainer: "Jane Doe <jane@example.com>" })])]));

ok("keywords-mixed-case",
  ["from alpine as Build", "run echo hi", "Copy a.txt /a.txt", "wOrKdIr /x", "From build AS final", "env K=v"],
  doc([
    S(0, "alpine", [1, 4], [
      I("RUN", 2, sh("echo hi")),
      I("COPY", 3, cp(["a.txt"], "/a.txt")),
      I("WORKDIR", 4, { path: "/x" }),
    ], { name: "build" }),
    S(1, "build", [5, 6], [I("ENV", 6, pairs(["K", "v"]))], { name: "final", baseStage: 0, dependsOn: [0] }),
  ]));

ok("leading-whitespace-and-comments",
  ["# leading comment", "", "FROM alpine AS base", "", "  # indented comment", "   RUN apk add git", "", "FROM base", "\tRUN git --version", "# trailing comment", ""],
  doc([
    S(0, "alpine", [3, 6], [I("RUN", 6, sh("apk add git"))], { name: "base" }),
    S(1, "base", [8, 9], [I("RUN", 9, sh("git --version"))], { baseStage: 0, dependsOn: [0] }),
  ]));

// ---------------------------------------------------------------- directives
ok("directive-syntax-and-check",
  ["# syntax=docker/dockerfile:1.7", "# check=skip=all", "FROM alpine"],
  doc([S(0, "alpine", [3, 3], [])], { directives: { syntax: "docker/dockerfile:1.7", check: "skip=all" } }));

ok("directive-escape-backtick",
  ["# escape=`", "", "FROM mcr.microsoft.com/windows/servercore:ltsc2022", "WORKDIR C:\\app", "COPY . C:\\app\\", "RUN dir `", "    C:\\app"],
  doc([S(0, "mcr.microsoft.com/windows/servercore:ltsc2022", [3, 7], [
    I("WORKDIR", 4, { path: "C:\\app" }),
    I("COPY", 5, cp(["."], "C:\\app\\")),
    I("RUN", [6, 7], sh("dir     C:\\app")),
  ])], { directives: { escape: "`" } }));

ok("directive-after-comment-is-comment",
  ["# a comment", "# escape=`", "FROM alpine", "RUN echo a \\", "    b"],
  doc([S(0, "alpine", [3, 5], [I("RUN", [4, 5], sh("echo a     b"))])]));

ok("directive-after-instruction-is-comment",
  ["FROM alpine", "# syntax=docker/dockerfile:1", "RUN true"],
  doc([S(0, "alpine", [1, 3], [I("RUN", 3, sh("true"))])]));

ok("directive-after-unknown-directive",
  ["# foo=bar", "# syntax=docker/dockerfile:1", "FROM alpine"],
  doc([S(0, "alpine", [3, 3], [])]));

ok("directive-after-blank-line", ["", "# escape=`", "FROM alpine", "RUN echo a \\", "  b"],
  doc([S(0, "alpine", [3, 5], [I("RUN", [4, 5], sh("echo a   b"))])]));

ok("directive-spacing-and-case", ["#  Syntax = docker/dockerfile:1  ", "#escape=\\", "FROM alpine"],
  doc([S(0, "alpine", [3, 3], [])], { directives: { syntax: "docker/dockerfile:1" } }));

ok("crlf-line-endings",
  { raw: "# syntax=docker/dockerfile:1\r\nFROM alpine\r\nRUN echo a \\\r\n  b\r\nENV K=v\r\nLABEL x=\"y z\"\r\n" },
  doc([S(0, "alpine", [2, 6], [
    I("RUN", [3, 4], sh("echo a   b")),
    I("ENV", 5, pairs(["K", "v"])),
    I("LABEL", 6, pairs(["x", "y z"])),
  ])], { directives: { syntax: "docker/dockerfile:1" } }));

ok("utf8-bom", { raw: "\uFEFF# syntax=docker/dockerfile:1\nFROM alpine\nRUN echo ok\n" },
  doc([S(0, "alpine", [2, 3], [I("RUN", 3, sh("echo ok"))])], { directives: { syntax: "docker/dockerfile:1" } }));

ok("utf8-bom-before-from", { raw: "\uFEFFFROM alpine\n" }, doc([S(0, "alpine", [1, 1], [])]));

// ---------------------------------------------------------------- expansion
const modLine = "ENV a=$v b=${v} c=${v:-d} d=${v-d} e=${v:+alt} f=${v+alt} g=${v#*.} h=${v##*.} i=${v%.*} j=${v%%.*} k=${v/o/0} l=${v//o/0}";
const modKeys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
const zip = (vals) => modKeys.map((k, i) => [k, vals[i]]);
ok("expansion-modifiers-set", ["FROM alpine", "ENV v=foo.tar.gz", modLine],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["v", "foo.tar.gz"])),
    I("ENV", 3, pairs(...zip(["foo.tar.gz", "foo.tar.gz", "foo.tar.gz", "foo.tar.gz", "alt", "alt", "tar.gz", "gz", "foo.tar", "foo", "f0o.tar.gz", "f00.tar.gz"]))),
  ])]));
ok("expansion-modifiers-unset", ["FROM alpine", modLine],
  doc([S(0, "alpine", [1, 2], [
    I("ENV", 2, pairs(...zip(["", "", "d", "d", "", "", "", "", "", "", "", ""]))),
  ])]));
ok("expansion-modifiers-empty", ["FROM alpine", "ENV v=\"\"", modLine],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["v", ""])),
    I("ENV", 3, pairs(...zip(["", "", "d", "", "", "alt", "", "", "", "", "", ""]))),
  ])]));
ok("expansion-arg-declared-without-value-is-unset", ["FROM alpine", "ARG v", modLine],
  doc([S(0, "alpine", [1, 3], [
    I("ARG", 2, args(["v", null])),
    I("ENV", 3, pairs(...zip(["", "", "d", "d", "", "", "", "", "", "", "", ""]))),
  ])]));

ok("expansion-escaped-dollar", ["FROM alpine", "ENV v=x", "WORKDIR /a/\\$v/${v}/\\${v}"],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["v", "x"])),
    I("WORKDIR", 3, { path: "/a/$v/x/${v}" }),
  ])]));

ok("expansion-nested-default", ["FROM alpine", "ENV v=x", "WORKDIR /${UNSET:-${v}-suffix}/${v:+[$v]}"],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["v", "x"])),
    I("WORKDIR", 3, { path: "/x-suffix/[x]" }),
  ])]));

ok("expansion-required-set", ["FROM alpine", "ARG NAME", "WORKDIR /srv/${NAME:?NAME is required}"],
  doc([S(0, "alpine", [1, 3], [
    I("ARG", 2, args(["NAME", null])),
    I("WORKDIR", 3, { path: "/srv/web" }),
  ])]), { buildArgs: { NAME: "web" } });

ok("expansion-glob-patterns", ["FROM alpine", "ENV p=/usr/local/bin/tool", "ENV base=${p##*/} dir=${p%/*} noext=${p%%/*} first=${p#/*/}"],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["p", "/usr/local/bin/tool"])),
    I("ENV", 3, pairs(["base", "tool"], ["dir", "/usr/local/bin"], ["noext", ""], ["first", "local/bin/tool"])),
  ])]));

// ---------------------------------------------------------------- errors
bad("error-unknown-instruction", ["FROM alpine", "RUNN echo hi"], err(2, "unknown instruction", { suggest: "run" }));
bad("error-unknown-instruction-copy", ["FROM alpine", "RUN true", "COPPY a b"], err(3, "unknown instruction", { suggest: "copy" }));
bad("error-instruction-before-from", ["# comment", "RUN echo hi", "FROM alpine"], err(2, ["no build stage", "must come after a from"]));
bad("error-env-before-from", ["ARG A=1", "ENV B=2", "FROM alpine"], err(2, ["no build stage", "must come after a from"]));
bad("error-duplicate-stage-name", ["FROM alpine AS build", "RUN true", "FROM debian AS Build"], err(3, "duplicate stage name"));
bad("error-invalid-stage-name", ["FROM alpine AS 1st"], err(1, "invalid name for build stage"));
bad("error-copy-from-index-out-of-range", ["FROM alpine", "RUN true", "FROM alpine", "COPY --from=5 /a /b"], err(4, "invalid stage index"));
bad("error-target-not-found", ["FROM alpine AS build", "FROM build AS final"], err(null, "target stage"), { target: "release" });
bad("error-copy-from-own-stage", ["FROM alpine AS self", "COPY --from=self /a /b"], err(null, "circular dependency"));
bad("error-cycle-between-stages",
  ["FROM alpine AS a", "COPY --from=b /x /x", "FROM alpine AS b", "COPY --from=a /y /y"], err(null, "circular dependency"));
bad("error-shell-not-json", ["FROM alpine", "SHELL /bin/bash -c"], err(2, "json"));
bad("error-healthcheck-bad-duration", ["FROM alpine", "HEALTHCHECK --interval=often CMD true"], err(2, "duration"));
bad("error-healthcheck-bad-retries", ["FROM alpine", "HEALTHCHECK --retries=-1 CMD true"], err(2, "retries"));
bad("error-unknown-flag", ["FROM alpine AS builder", "FROM alpine", "COPY --frm=builder /a /b"], err(3, "unknown flag", { suggest: "from" }));
bad("error-run-unknown-flag", ["FROM alpine", "RUN --netwrk=none true"], err(2, "unknown flag", { suggest: "network" }));
bad("error-copy-missing-dest", ["FROM alpine", "COPY onlyone"], err(2, "requires at least two arguments"));
bad("error-unterminated-heredoc", ["FROM alpine", "RUN <<EOF", "echo never ends", "EOFX"], err(2, "unterminated heredoc"));
bad("error-onbuild-onbuild", ["FROM alpine", "ONBUILD ONBUILD RUN true"], err(2, "isn't allowed"));
bad("error-onbuild-from", ["FROM alpine", "ONBUILD FROM debian"], err(2, "isn't allowed"));
bad("error-onbuild-maintainer", ["FROM alpine", "ONBUILD MAINTAINER me"], err(2, "isn't allowed"));
bad("error-empty-dockerfile", { raw: "" }, err(1, "no instructions"));
bad("error-only-comments", ["# nothing here", "", "# still nothing"], err(null, "no instructions"));
bad("error-only-meta-args", ["ARG VERSION=1"], err(null, ["no stages", "no build stage"]));
bad("error-required-var-unset", ["FROM alpine", "ARG NAME", "WORKDIR /srv/${NAME:?NAME is required}"], err(3, "NAME is required"));
bad("error-required-var-unset-in-from", ["ARG IMAGE", "FROM ${IMAGE:?IMAGE_must_be_set}"], err(2, "IMAGE_must_be_set"));
bad("error-from-words-split-before-expansion", ["ARG IMAGE", "FROM ${IMAGE:?set IMAGE}"], err(2, "from requires"));
bad("error-cmd-json-not-strings", ["FROM alpine", "CMD [\"sleep\", 10]"], err(2, "strings only"));
bad("error-invalid-escape-directive", ["# escape=x", "FROM alpine"], err(1, "invalid escape"));
bad("error-duplicate-directive", ["# syntax=docker/dockerfile:1", "# syntax=docker/dockerfile:1.7", "FROM alpine"], err(2, "only one syntax parser directive"));
bad("error-env-missing-value", ["FROM alpine", "ENV ONLYKEY"], err(2, "must have two arguments"));
bad("error-from-missing-image", ["FROM"], err(1, "from requires"));

// ---------------------------------------------------------------- more edge cases
ok("onbuild-trigger-text-as-written", ["FROM alpine", "onbuild  run   echo hi"],
  doc([S(0, "alpine", [1, 2], [I("ONBUILD", 2, { trigger: "run   echo hi" })])]));

ok("onbuild-heredoc", ["FROM alpine", "ONBUILD RUN <<EOF", "echo hi", "EOF"],
  doc([S(0, "alpine", [1, 4], [I("ONBUILD", [2, 4], { trigger: "RUN <<EOF\necho hi\nEOF" })])]));

ok("stage-name-allowed-symbols", ["FROM alpine AS my_stage-1.0", "FROM my_stage-1.0"],
  doc([
    S(0, "alpine", [1, 1], [], { name: "my_stage-1.0" }),
    S(1, "my_stage-1.0", [2, 2], [], { baseStage: 0, dependsOn: [0] }),
  ]));

ok("from-meta-arg-resolves-to-stage", ["ARG FLAVOR=build", "FROM alpine AS build", "RUN make", "FROM ${FLAVOR}"],
  doc([
    S(0, "alpine", [2, 3], [I("RUN", 3, sh("make"))], { name: "build" }),
    S(1, "build", [4, 4], [], { baseStage: 0, dependsOn: [0] }),
  ], { metaArgs: [["FLAVOR", "build"]] }));

ok("env-quoting-backslashes",
  ["FROM alpine", "ENV A='a\\b' B=\"a\\b\" C=\"a\\\\b\" D=a\\b E=--opt=x=y F=\"\\$HOME\""],
  doc([S(0, "alpine", [1, 2], [I("ENV", 2, pairs(["A", "a\\b"], ["B", "a\\b"], ["C", "a\\b"], ["D", "ab"], ["E", "--opt=x=y"], ["F", "$HOME"]))])]));

ok("env-multi-line-pairs", ["FROM alpine", "ENV A=1 \\", "    B=2 \\", "    C=\"x y\""],
  doc([S(0, "alpine", [1, 4], [I("ENV", [2, 4], pairs(["A", "1"], ["B", "2"], ["C", "x y"]))])]));

ok("arg-quoted-and-empty-default",
  ["FROM alpine", "ARG MSG=\"hello world\"", "ARG EMPTY=", "ENV M=$MSG E=${EMPTY-unset} F=${EMPTY:-empty}"],
  doc([S(0, "alpine", [1, 4], [
    I("ARG", 2, args(["MSG", "hello world"])),
    I("ARG", 3, args(["EMPTY", ""])),
    I("ENV", 4, pairs(["M", "hello world"], ["E", ""], ["F", "empty"])),
  ])]));

ok("expansion-name-boundaries", ["FROM alpine", "ENV v=x", "WORKDIR /$v-a/$v.b/${v}_c/$v_d/$v/"],
  doc([S(0, "alpine", [1, 3], [
    I("ENV", 2, pairs(["v", "x"])),
    I("WORKDIR", 3, { path: "/x-a/x.b/x_c//x/" }),
  ])]));

ok("label-legacy-and-empty", ["FROM alpine", "LABEL description some text here", "LABEL empty=\"\" other=''"],
  doc([S(0, "alpine", [1, 3], [
    I("LABEL", 2, pairs(["description", "some text here"])),
    I("LABEL", 3, pairs(["empty", ""], ["other", ""])),
  ])]));

ok("expose-range-and-workdir-spaces", ["FROM alpine", "EXPOSE 8000-8010/tcp", "WORKDIR /my app"],
  doc([S(0, "alpine", [1, 3], [
    I("EXPOSE", 2, { ports: ["8000-8010/tcp"] }),
    I("WORKDIR", 3, { path: "/my app" }),
  ])]));

ok("json-form-across-continuation", ["FROM alpine", "CMD [\"echo\", \\", "     \"hi\"]"],
  doc([S(0, "alpine", [1, 3], [I("CMD", [2, 3], ex("echo", "hi"))])]));

ok("heredoc-not-in-json-form", ["FROM alpine", "RUN [\"cat\", \"<<EOF\"]", "RUN true"],
  doc([S(0, "alpine", [1, 3], [I("RUN", 2, ex("cat", "<<EOF")), I("RUN", 3, sh("true"))])]));

ok("heredoc-quoted-marker-is-not-heredoc", ["FROM alpine", "RUN echo \"<<EOF\"", "RUN true"],
  doc([S(0, "alpine", [1, 3], [I("RUN", 2, sh("echo \"<<EOF\"")), I("RUN", 3, sh("true"))])]));

ok("heredoc-not-in-env", ["FROM alpine", "ENV A=<<EOF", "RUN true"],
  doc([S(0, "alpine", [1, 3], [I("ENV", 2, pairs(["A", "<<EOF"])), I("RUN", 3, sh("true"))])]));

ok("heredoc-copy-with-file-source", ["FROM alpine", "COPY <<EOF app.conf /etc/app/", "x=1", "EOF"],
  doc([S(0, "alpine", [1, 4], [I("COPY", [2, 4], cp(["app.conf"], "/etc/app/", [hd("EOF", "x=1\n")]))])]));

ok("escaped-escape-is-not-continuation", ["FROM alpine", "RUN echo a\\\\", "RUN echo b"],
  doc([S(0, "alpine", [1, 3], [I("RUN", 2, sh("echo a\\\\")), I("RUN", 3, sh("echo b"))])]));

ok("escape-alone-on-line-continues", ["FROM alpine", "RUN echo a \\", "\\", "  b"],
  doc([S(0, "alpine", [1, 4], [I("RUN", [2, 4], sh("echo a   b"))])]));

ok("healthcheck-lowercase-cmd", ["FROM alpine", "HEALTHCHECK --timeout=10s cmd pgrep nginx"],
  doc([S(0, "alpine", [1, 2], [I("HEALTHCHECK", 2, { test: ["CMD-SHELL", "pgrep nginx"] }, { timeout: "10s" })])]));

ok("platform-build-arg-override",
  ["ARG PLATFORM=linux/amd64", "FROM --platform=${PLATFORM} alpine"],
  doc([S(0, "alpine", [2, 2], [], { platform: "linux/arm/v7" })], { metaArgs: [["PLATFORM", "linux/arm/v7"]] }),
  { buildArgs: { PLATFORM: "linux/arm/v7" } });

bad("error-healthcheck-none-with-args", ["FROM alpine", "HEALTHCHECK NONE CMD true"], err(2, "takes no arguments"));
bad("error-healthcheck-unknown-type", ["FROM alpine", "HEALTHCHECK CURL http://x"], err(2, "unknown type"));
bad("error-expose-no-args", ["FROM alpine", "EXPOSE"], err(2, "at least one argument"));
bad("error-workdir-no-args", ["FROM alpine", "WORKDIR"], err(2, "exactly one argument"));
bad("error-unknown-instruction-in-onbuild", ["FROM alpine", "ONBUILD RUNN make"], err(2, "unknown instruction"));
bad("error-heredoc-unterminated-second", ["FROM alpine", "RUN <<A <<B", "a", "A", "b"], err(2, "unterminated heredoc"));

// ---------------------------------------------------------------- more edge cases (2)
ok("expansion-question-non-colon-allows-empty", ["FROM alpine", "ENV v=\"\"", "WORKDIR /a${v?unset}b"],
  doc([S(0, "alpine", [1, 3], [I("ENV", 2, pairs(["v", ""])), I("WORKDIR", 3, { path: "/ab" })])]));
bad("error-required-var-empty", ["FROM alpine", "ENV v=\"\"", "WORKDIR /${v:?v_must_not_be_empty}"], err(3, "v_must_not_be_empty"));
bad("error-required-var-unset-non-colon", ["FROM alpine", "WORKDIR /${v?v_must_be_set}"], err(2, "v_must_be_set"));

ok("target-case-insensitive", ["FROM alpine AS build", "RUN make", "FROM alpine AS other"],
  doc([S(0, "alpine", [1, 2], [I("RUN", 2, sh("make"))], { name: "build" })], { target: 0 }), { target: "BUILD" });

ok("add-json-form-with-flags", ["FROM alpine", "ADD --chown=1:1 [\"a b.tar\", \"/opt/x y/\"]"],
  doc([S(0, "alpine", [1, 2], [I("ADD", 2, cp(["a b.tar"], "/opt/x y/"), { chown: "1:1" })])]));

ok("json-form-whitespace", ["FROM alpine", "CMD   [ \"a\" ,  \"b c\" ]   ", "ENTRYPOINT [\"/bin/sh\",\"-c\"]"],
  doc([S(0, "alpine", [1, 3], [I("CMD", 2, ex("a", "b c")), I("ENTRYPOINT", 3, ex("/bin/sh", "-c"))])]));

ok("unicode-values", ["FROM alpine", "LABEL name=\"café ☕\" 日本=語", "RUN echo \"héllo wörld\""],
  doc([S(0, "alpine", [1, 3], [
    I("LABEL", 2, pairs(["name", "café ☕"], ["日本", "語"])),
    I("RUN", 3, sh("echo \"héllo wörld\"")),
  ])]));

// ---------------------------------------------------------------- write
for (const entry of readdirSync(root)) {
  const p = join(root, entry);
  if (statSync(p).isDirectory()) rmSync(p, { recursive: true });
}
const seen = new Set();
for (const c of cases) {
  if (seen.has(c.name)) throw new Error(`duplicate case ${c.name}`);
  seen.add(c.name);
  const dir = join(root, c.name);
  mkdirSync(dir, { recursive: true });
  const text = Array.isArray(c.df) ? c.df.join("\n") + "\n" : c.df.raw;
  writeFileSync(join(dir, "Dockerfile"), text);
  if (c.expected) writeFileSync(join(dir, "expected.json"), JSON.stringify(c.expected, null, 2) + "\n");
  if (c.error) writeFileSync(join(dir, "expected-error.json"), JSON.stringify(c.error, null, 2) + "\n");
  if (c.options) writeFileSync(join(dir, "options.json"), JSON.stringify(c.options, null, 2) + "\n");
}
console.log(`${cases.length} cases (${cases.filter((c) => c.expected).length} ok, ${cases.filter((c) => c.error).length} error)`);
