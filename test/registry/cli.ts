/** Runs a CLI command in-process, capturing what it prints on stdout and stderr. */
export async function cli(run: (argv: string[]) => Promise<number>, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const captured = { out: "", err: "" };
  process.stdout.write = ((chunk: string) => ((captured.out += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((captured.err += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await run(argv), ...captured };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
