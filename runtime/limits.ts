/** Per-agent resource limits enforced by the sandbox watchdog (DESIGN §6). */
export interface Limits {
  /** CPU time the agent's isolate may use, including work after `main` returns. */
  readonly cpu_ms: number;
  /** Wall-clock time from spawn to the end of `main`. */
  readonly wall_ms: number;
  /** Heap the agent may use; the watchdog ends the agent when it crosses this. */
  readonly memory_mb: number;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({ cpu_ms: 10_000, wall_ms: 60_000, memory_mb: 128 });

const BOUNDS: Record<keyof Limits, readonly [number, number]> = {
  cpu_ms: [1, 24 * 3600 * 1000],
  wall_ms: [1, 7 * 24 * 3600 * 1000],
  memory_mb: [8, 16 * 1024],
};

/**
 * Merges host-supplied limits over `base`. Throws TypeError for unknown keys or non-numbers and
 * RangeError for values outside their bounds, naming `argName` and the key.
 */
export function resolveLimits(partial: unknown, base: Limits, argName: string): Limits {
  if (partial === undefined) return base;
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) {
    throw new TypeError(`${argName} must be an object`);
  }
  const out: Record<string, number> = { ...base };
  for (const [key, value] of Object.entries(partial)) {
    const bounds = (BOUNDS as Record<string, readonly [number, number] | undefined>)[key];
    if (bounds === undefined) throw new TypeError(`${argName}.${key} is not a known limit`);
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError(`${argName}.${key} must be a finite number`);
    }
    if (value < bounds[0] || value > bounds[1]) {
      throw new RangeError(`${argName}.${key} must be between ${bounds[0]} and ${bounds[1]}`);
    }
    out[key] = value;
  }
  return Object.freeze(out as unknown as Limits);
}
