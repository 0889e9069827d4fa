import type { Command } from "../command.js";
import { buildCommand } from "./build.js";
import { duCommand } from "./du.js";
import { imagesCommand } from "./images.js";
import { importCommand } from "./import.js";
import { inspectCommand } from "./inspect.js";
import { loadCommand } from "./load.js";
import { loginCommand } from "./login.js";
import { logoutCommand } from "./logout.js";
import { parseCommand } from "./parse.js";
import { pruneCommand } from "./prune.js";
import { pullCommand } from "./pull.js";
import { pushCommand } from "./push.js";
import { rmiCommand } from "./rmi.js";
import { saveCommand } from "./save.js";
import { tagCommand } from "./tag.js";

/** Every subcommand, in the order `tbuild --help` lists them. */
export const commands: Command[] = [
  buildCommand,
  parseCommand,
  imagesCommand,
  inspectCommand,
  tagCommand,
  rmiCommand,
  saveCommand,
  loadCommand,
  importCommand,
  pruneCommand,
  duCommand,
  pullCommand,
  pushCommand,
  loginCommand,
  logoutCommand,
];
