/** Median of samples; benchmarks report medians because these machines are noisy. */
export function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function timeRuns(runs: number, fn: () => Promise<void> | void): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return samples;
}

export function report(name: string, fields: Record<string, string | number>): void {
  const text = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toFixed(2)) : v}`)
    .join("  ");
  process.stdout.write(`${name.padEnd(28)} ${text}\n`);
}
