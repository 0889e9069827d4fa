/**
 * The order in which prune frees space: least recently made first, under one budget
 * (`--keep-storage`) shared by blobs and snapshots, as `docker builder prune` does
 * across its cache. A snapshot can only go once the snapshots based on it are gone, so
 * an item becomes eligible when every item naming it as `parent` has been chosen.
 */
export interface Reclaimable<T> {
  id: string;
  /** Another candidate's id that may only go after this one (a snapshot's parent). */
  parent?: string;
  size: number;
  /** Milliseconds since the epoch; older goes first. */
  time: number;
  item: T;
}

/**
 * The candidates to remove, in a safe order (children before parents), stopping once
 * what stays is at most `keepStorage` bytes; all of them when it is undefined.
 */
export function planReclaim<T>(candidates: Reclaimable<T>[], keepStorage?: number): Reclaimable<T>[] {
  const children = new Map<string, number>();
  for (const c of candidates) if (c.parent !== undefined) children.set(c.parent, (children.get(c.parent) ?? 0) + 1);
  const byId = new Map(candidates.map((c) => [c.id, c]));
  // Newest first, so the oldest is popped from the end.
  const ready = candidates.filter((c) => (children.get(c.id) ?? 0) === 0).sort((a, b) => b.time - a.time);
  const insert = (c: Reclaimable<T>): void => {
    let lo = 0;
    let hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ready[mid]!.time > c.time) lo = mid + 1;
      else hi = mid;
    }
    ready.splice(lo, 0, c);
  };
  let remaining = candidates.reduce((n, c) => n + c.size, 0);
  const out: Reclaimable<T>[] = [];
  for (let c = ready.pop(); c !== undefined; c = ready.pop()) {
    if (keepStorage !== undefined && remaining <= keepStorage) break;
    out.push(c);
    remaining -= c.size;
    const parent = c.parent === undefined ? undefined : byId.get(c.parent);
    if (parent === undefined) continue;
    const left = (children.get(parent.id) ?? 1) - 1;
    children.set(parent.id, left);
    if (left === 0) insert(parent);
  }
  return out;
}
