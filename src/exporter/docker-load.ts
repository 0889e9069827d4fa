/**
 * `--load` (buildx's `-o type=docker` without dest): the `docker load` tar of the image,
 * POSTed to a running Docker Engine's `/images/load`. tbuild never needs a daemon: the
 * resolve step only asks whether one answers (`/_ping`), and says in one line why not
 * before any step runs, so a build that cannot be loaded fails in the first second.
 */
import http from "node:http";

import { TbuildError } from "../errors.js";
import { writeDockerArchive } from "../store/export/docker.js";
import type { OutputSpec, ResolvedExporter } from "./exporter.js";

/** Where the Engine API listens, from DOCKER_HOST as the docker CLI reads it. */
interface Engine {
  /** As the user would recognise it: the socket path or tcp://host:port. */
  where: string;
  connect: { socketPath: string } | { host: string; port: number };
}

const SAVE_INSTEAD = "tbuild save NAME --format docker -o image.tar && docker load -i image.tar";

export function dockerEngine(env: NodeJS.ProcessEnv): Engine {
  const host = env["DOCKER_HOST"] ?? "";
  if (host === "") return { where: "/var/run/docker.sock", connect: { socketPath: "/var/run/docker.sock" } };
  if (host.startsWith("unix://")) return { where: host.slice(7), connect: { socketPath: host.slice(7) } };
  const tcp = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(host);
  if (tcp !== null && (env["DOCKER_TLS_VERIFY"] ?? "") === "") return { where: host, connect: { host: tcp[1]!, port: Number(tcp[2]) } };
  throw new TbuildError("not-implemented", `--load: DOCKER_HOST=${host} is not a unix socket or a plain tcp://HOST:PORT, the only ways tbuild reaches docker`, { hint: `build without --load, then: ${SAVE_INSTEAD}` });
}

/** One Engine API call; resolves with the status and the whole (small) response body. */
function call(engine: Engine, method: string, path: string, o: { timeoutMs?: number; body?: (req: http.ClientRequest) => Promise<void> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...engine.connect, method, path, headers: o.body === undefined ? {} : { "Content-Type": "application/x-tar" } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body = (body + c).slice(-64 * 1024)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    const timeoutMs = o.timeoutMs;
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    if (o.body === undefined) req.end();
    else o.body(req).catch((e: unknown) => req.destroy(e as Error));
  });
}

/** The first error in the Engine's JSON-lines progress stream, if any. */
function streamError(body: string): string | undefined {
  for (const line of body.split("\n")) {
    try {
      const message = (JSON.parse(line) as { error?: unknown }).error;
      if (typeof message === "string") return message;
    } catch {
      // not a JSON line: the stream is judged by its error lines only
    }
  }
  return undefined;
}

/** Why a connection failed, in words rather than an errno. */
function unreachable(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "does not exist";
  if (code === "ECONNREFUSED") return "nothing listens there";
  if (code === "EACCES" || code === "EPERM") return "permission denied (is this user in the docker group?)";
  return e instanceof Error ? e.message : String(e);
}

export async function exportLoad(spec: OutputSpec): Promise<ResolvedExporter> {
  const engine = dockerEngine(process.env);
  const ping = await call(engine, "GET", "/_ping", { timeoutMs: 3000 }).catch((e: unknown) => ({ status: 0, body: unreachable(e) }));
  if (ping.status !== 200) {
    const why = ping.status === 0 ? ping.body : `it answered /_ping with HTTP ${ping.status}`;
    const unset = engine.where === "/var/run/docker.sock" && (process.env["DOCKER_HOST"] ?? "") === "" ? "DOCKER_HOST is unset and " : "";
    throw new TbuildError("failed-precondition", `--load: no docker daemon is reachable (${unset}${engine.where}: ${why})`, { hint: `start docker or set DOCKER_HOST, or build without --load and then: ${SAVE_INSTEAD}` });
  }
  return {
    name: `exporting to docker image format (loading into docker at ${engine.where})`,
    kind: "export",
    async finalize(image, progress) {
      const name = spec.name ?? image.tags[0];
      const resolved = await image.store.resolve(image.descriptor.digest);
      progress.status("load", "sending tarball");
      const res = await call(engine, "POST", "/images/load?quiet=1", { body: (req) => writeDockerArchive(image.store, resolved, name, req).then(() => undefined) }).catch((e: unknown) => {
        throw new TbuildError("unavailable", `--load: sending the image to docker at ${engine.where} failed: ${e instanceof Error ? e.message : String(e)}`, { hint: SAVE_INSTEAD });
      });
      const failure = res.status !== 200 ? `HTTP ${res.status}: ${res.body.trim().slice(0, 300)}` : streamError(res.body);
      if (failure !== undefined) throw new TbuildError("unavailable", `--load: docker at ${engine.where} refused the image: ${failure}`, { hint: SAVE_INSTEAD });
      progress.status("load", "sending tarball", { done: true });
    },
  };
}
