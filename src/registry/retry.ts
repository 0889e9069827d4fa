import { setTimeout as sleep } from "node:timers/promises";
import { RegistryError } from "./errors.js";

export interface RetryOptions {
  /** Attempts after the first one (default 5). */
  retries?: number;
  /** First backoff delay in ms, doubled each time with jitter (default 500). */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/** Longest wait between attempts, whatever Retry-After asks for. */
const MAX_DELAY_MS = 30_000;

export function isTemporary(e: unknown): boolean {
  return e instanceof RegistryError && e.temporary;
}

/**
 * Runs `attempt` until it succeeds, fails permanently or runs out of retries. Whole
 * operations are retried here rather than single requests inside got, because upload
 * bodies are streams that must be reopened (and a blob re-checked) before each try.
 */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const retries = o.retries ?? 5;
  const base = o.retryDelayMs ?? 500;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      if (!isTemporary(e) || n >= retries || o.signal?.aborted === true) throw e;
      const backoff = base * 2 ** n * (0.5 + Math.random() / 2);
      const asked = e instanceof RegistryError && e.retryAfter !== undefined ? e.retryAfter * 1000 : 0;
      await sleep(Math.min(MAX_DELAY_MS, Math.max(backoff, asked)), undefined, o.signal === undefined ? {} : { signal: o.signal });
    }
  }
}
