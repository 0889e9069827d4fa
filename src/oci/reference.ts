import { TbuildError } from "../errors.js";
import { isDigest } from "./digest.js";

/**
 * An image reference split Docker's way. `registry` is the host (with port), `repository`
 * the path on it; `docker.io` names get the `library/` prefix for single-component paths.
 * `tag` defaults to "latest" only when neither a tag nor a digest was given.
 */
export interface Reference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = "docker.io";

// The distribution/reference grammar, in Docker's words.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const MAX_NAME = 255;

function invalid(s: string, why: string): TbuildError {
  return new TbuildError("invalid-argument", `invalid image reference '${s}': ${why}`, {
    hint: "use [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST], e.g. busybox, ghcr.io/org/app:1.2 or localhost:5000/app@sha256:...",
  });
}

/** Parses and normalises an image reference (`busybox` → docker.io/library/busybox:latest). */
export function parseReference(s: string): Reference {
  if (s === "") throw invalid(s, "it is empty");
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw invalid(s, `'${digest}' is not a sha256 digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(s, `tag '${tag}' may contain only letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  // Docker's rule: the first component is a host if it has a dot or port, is localhost, or has capitals.
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase())) {
    registry = first;
    repository = rest.slice(slash + 1);
    checkDomain(s, registry);
  }
  if (registry === "index.docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (repository === "") throw invalid(s, "the repository name is empty");
  for (const part of repository.split("/")) {
    if (!PATH_COMPONENT.test(part)) {
      throw invalid(s, part !== part.toLowerCase() ? "repository names must be lowercase" : `'${part}' is not a valid path component (lowercase letters, digits and single separators . _ __ -)`);
    }
  }
  if (registry.length + 1 + repository.length > MAX_NAME) throw invalid(s, `the name is longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = "latest";
  const ref: Reference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

function checkDomain(s: string, domain: string): void {
  const m = /^(.*?)(?::(\d+))?$/.exec(domain);
  const host = m?.[1] ?? "";
  const ipv6 = /^\[[0-9a-fA-F:.]+\]$/.test(host);
  if (!ipv6 && (host === "" || !host.split(".").every((c) => DOMAIN_COMPONENT.test(c)))) {
    throw invalid(s, `'${domain}' is not a valid registry host`);
  }
}

/** The fully qualified form, e.g. `docker.io/library/busybox:latest`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** The short form Docker shows, e.g. `busybox:latest`, `me/app:1`, `ghcr.io/o/a:2`. */
export function familiarReference(ref: Reference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DOCKER_HUB) {
    name = ref.repository.startsWith("library/") && ref.repository.split("/").length === 2 ? ref.repository.slice("library/".length) : ref.repository;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** Normalises a user-typed name to the fully qualified form used as a store key. */
export function normalizeName(s: string): string {
  return formatReference(parseReference(s));
}
