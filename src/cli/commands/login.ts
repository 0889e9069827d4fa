import { TbuildError } from "../../errors.js";
import { credentialHost, dockerConfigPath, storeCredential } from "../../registry/credentials.js";
import { RegistryTransport } from "../../registry/transport.js";
import type { Command } from "../command.js";
import { registryFlags, registryFlagsUsage, registryOptions } from "../registry-flags.js";
import { parseFlags } from "../args.js";

const loginUsage = `Usage: tbuild login [-u USER] [--password-stdin | -p PASSWORD] [REGISTRY]

Checks the credentials against REGISTRY (default docker.io) and saves them in the
docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json, mode 0600), or in
the credential helper it names. Prefer --password-stdin: -p leaves the password in
your shell history.

${registryFlagsUsage}`;

/** `docker.io`, `https://index.docker.io/v1/` and `myreg:5000/` all name a registry host. */
export function registryArg(arg: string | undefined): string {
  return credentialHost(arg ?? "docker.io");
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let answer = "";
  try {
    for await (const chunk of stdin) {
      for (const ch of (chunk as Buffer).toString("utf8")) {
        if (ch === "\r" || ch === "\n") return answer;
        if (ch === "\u0003") throw new TbuildError("invalid-argument", "login cancelled");
        answer = ch === "\u007f" ? answer.slice(0, -1) : answer + ch;
      }
    }
    return answer;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

async function promptLine(question: string): Promise<string> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export const loginCommand: Command = {
  name: "login",
  summary: "Log in to a registry",
  usage: loginUsage,
  async run(argv) {
    const { values, positionals } = parseFlags(
      loginCommand,
      {
        args: argv,
        allowPositionals: true,
        options: {
          username: { type: "string", short: "u" },
          password: { type: "string", short: "p" },
          "password-stdin": { type: "boolean" },
          help: { type: "boolean", short: "h" },
          ...registryFlags,
        },
      },
    );
    if (values.help === true) {
      process.stdout.write(loginUsage + "\n");
      return 0;
    }
    if (positionals.length > 1) throw new TbuildError("invalid-argument", "login takes one registry", { hint: loginUsage.split("\n")[0] });
    const registry = registryArg(positionals[0]);
    const interactive = process.stdin.isTTY === true;
    if (values["password-stdin"] === true && values.password !== undefined) throw new TbuildError("invalid-argument", "--password and --password-stdin cannot be used together");
    if (values["password-stdin"] === true && values.username === undefined) throw new TbuildError("invalid-argument", "--password-stdin needs --username (-u)");
    const username = values.username ?? (interactive ? await promptLine("Username: ") : undefined);
    if (username === undefined || username === "") throw new TbuildError("invalid-argument", "no username given", { hint: "pass -u USER" });
    let password = values.password;
    if (values["password-stdin"] === true) password = await readStdin();
    else if (password === undefined && interactive) password = await promptHidden("Password: ");
    if (password === undefined || password === "") throw new TbuildError("invalid-argument", "no password given", { hint: "pipe it in with --password-stdin" });

    const transport = new RegistryTransport(registry, { ...registryOptions(values), credentials: async () => ({ username, password }) });
    try {
      await transport.verifyLogin();
    } catch (e) {
      if (e instanceof TbuildError && e.category === "permission-denied") {
        throw new TbuildError("permission-denied", `login to ${registry} failed: the registry refused the username or password`, {
          hint: "check them; for registries with tokens, the token may be used as the password",
        });
      }
      throw e;
    }
    await storeCredential(registry, username, password);
    process.stdout.write(`Login succeeded: ${registry} (saved in ${dockerConfigPath()})\n`);
    return 0;
  },
};
