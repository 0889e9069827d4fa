import path from "node:path";
import type { ContainerConfig } from "../oci/index.js";
import { durationMs, type CommandForm, type Instruction } from "../parser/index.js";

export const DEFAULT_SHELL = ["/bin/sh", "-c"];
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The argv a CMD/ENTRYPOINT/RUN command means, given the stage's SHELL. */
export function commandArgv(command: CommandForm, shell: readonly string[]): string[] {
  return command.form === "exec" ? command.command : [...shell, command.command];
}

export function envToMap(env: readonly string[] | null | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const item of env ?? []) {
    const eq = item.indexOf("=");
    map.set(eq === -1 ? item : item.slice(0, eq), eq === -1 ? "" : item.slice(eq + 1));
  }
  return map;
}

function setEnv(env: readonly string[] | null | undefined, key: string, value: string): string[] {
  const map = envToMap(env);
  map.set(key, value);
  return [...map].map(([k, v]) => `${k}=${v}`);
}

const NS_PER_MS = 1_000_000;

/** Resolves a WORKDIR against the current one, as Docker does. */
export function resolveWorkdir(current: string | undefined, next: string): string {
  return path.posix.resolve(current === undefined || current === "" ? "/" : current, next);
}

/**
 * The image config after a metadata instruction (everything but RUN, COPY, ADD,
 * ARG). `cmdInherited` tells whether CMD still comes from the base image, which
 * ENTRYPOINT then resets as Docker does.
 */
export function applyMetadata(config: ContainerConfig, instruction: Instruction, cmdInherited: boolean): ContainerConfig {
  const shell = config.Shell ?? DEFAULT_SHELL;
  const next: ContainerConfig = { ...config };
  switch (instruction.keyword) {
    case "ENV":
      for (const { key, value } of instruction.args.pairs) next.Env = setEnv(next.Env, key, value);
      break;
    case "LABEL":
      next.Labels = { ...(next.Labels ?? {}) };
      for (const { key, value } of instruction.args.pairs) next.Labels[key] = value;
      break;
    case "WORKDIR":
      next.WorkingDir = resolveWorkdir(next.WorkingDir, instruction.args.path);
      break;
    case "USER":
      next.User = instruction.args.user;
      break;
    case "EXPOSE":
      next.ExposedPorts = { ...(next.ExposedPorts ?? {}) };
      for (const port of instruction.args.ports) next.ExposedPorts[port.includes("/") ? port.toLowerCase() : `${port}/tcp`] = {};
      break;
    case "VOLUME":
      next.Volumes = { ...(next.Volumes ?? {}) };
      for (const p of instruction.args.paths) next.Volumes[p] = {};
      break;
    case "STOPSIGNAL":
      next.StopSignal = instruction.args.signal;
      break;
    case "SHELL":
      next.Shell = instruction.args.shell;
      break;
    case "CMD":
      next.Cmd = commandArgv(instruction.args, shell);
      break;
    case "ENTRYPOINT":
      next.Entrypoint = commandArgv(instruction.args, shell);
      // Docker drops an inherited CMD (the field goes, it is not written as null).
      if (cmdInherited) delete next.Cmd;
      break;
    case "HEALTHCHECK": {
      const f = instruction.flags;
      const ns = (name: string): number | undefined => (typeof f[name] === "string" ? Math.round(durationMs(f[name]) * NS_PER_MS) : undefined);
      next.Healthcheck = {
        Test: instruction.args.test,
        ...defined("Interval", ns("interval")),
        ...defined("Timeout", ns("timeout")),
        ...defined("StartPeriod", ns("start-period")),
        ...defined("StartInterval", ns("start-interval")),
        ...defined("Retries", typeof f["retries"] === "string" ? Number(f["retries"]) : undefined),
      };
      break;
    }
    case "ONBUILD":
      next.OnBuild = [...(next.OnBuild ?? []), instruction.args.trigger];
      break;
    default:
      break;
  }
  return next;
}

function defined<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}
