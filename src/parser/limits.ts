/**
 * Bounds on what one Dockerfile may make the parser do. Real Dockerfiles stay far below
 * them; a hostile or runaway one (`${X:-` nested thousands deep, `ARG A=$A$A` doubling,
 * tens of thousands of chained stages) gets a located error instead of exhausting the
 * stack or memory.
 */
export const LIMITS = {
  /** `${...}` inside `${...}`. */
  nesting: 64,
  /** Characters in one expanded word (an ENV value, a COPY source). */
  wordChars: 1 << 20,
  /** Characters produced by all expansions of one parse together. */
  totalChars: 16 << 20,
  stages: 1000,
  instructions: 20_000,
} as const;
