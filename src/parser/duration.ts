import { SyntaxProblem } from "./errors.js";

const DURATION = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/;

/** Go's time.ParseDuration, in milliseconds, for HEALTHCHECK flags. */
export function durationMs(text: string): number {
  if (text === "0") return 0;
  if (!DURATION.test(text)) throw new SyntaxProblem(`invalid duration: ${text}`, "write durations like 30s, 1m30s or 500ms");
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}
