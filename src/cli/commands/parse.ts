import type { Command } from "../command.js";
import { TbuildError } from "../../errors.js";

export const parseCommand: Command = {
  name: "parse",
  summary: "Parse a Dockerfile and print its stages and instructions",
  usage: "tbuild parse [-f Dockerfile] [--json] [--target T] [--build-arg K=V] [CONTEXT]",
  async run() {
    throw new TbuildError("not-implemented", "parse: not implemented yet");
  },
};
