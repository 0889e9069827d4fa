/** Decimal units, as `docker images` prints sizes. */
export function formatSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${bytes}B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/** "3 hours ago", as docker shows CREATED. */
export function relativeTime(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return "N/A";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "N/A";
  const s = Math.max(0, Math.round((now - t) / 1000));
  const steps: [number, string][] = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];
  let v = s;
  for (const [size, unit] of steps) {
    if (v < size) return v <= 1 && unit === "second" ? "Less than a second ago" : `${Math.floor(v)} ${unit}${Math.floor(v) === 1 ? "" : "s"} ago`;
    v /= size;
  }
  return "N/A";
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd((widths[c] ?? 0) + 3))).join("").trimEnd()).join("\n") + "\n";
}
