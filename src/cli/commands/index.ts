import type { Command } from "../command.js";
import { parseCommand } from "./parse.js";

/** Every subcommand, in the order `tbuild --help` lists them. */
export const commands: Command[] = [parseCommand];
