import type { AgentLauncher } from '../runtime/process/agent-launcher.js';
import { IsolateLauncher } from './isolate-launcher.js';
import { ProcessLauncher } from './process-launcher.js';

/** The kernel options that choose and tune the isolation tier (see runtime/kernel.ts KernelOptions). */
export interface IsolationOptions {
  readonly isolation?: unknown;
  readonly sandboxHosts?: unknown;
  readonly maxPayloadBytes?: unknown;
  readonly limits?: unknown;
}

const HOST_FIELDS: Record<string, readonly [number, number]> = {
  warm: [0, 64],
  agentsPerHost: [1, 1024],
  recycleAfter: [1, 1_000_000],
  rssLimitMb: [64, 1024 * 1024],
  killGraceMs: [1, 60_000],
};

/**
 * The launcher for `options.isolation` (docs/architecture.md §11): sandbox-host processes by default, the
 * kernel's own process for `'inline'`. Throws TypeError/RangeError naming the option when it is malformed.
 */
export function createLauncher(options: IsolationOptions, defaultMaxPayloadBytes: number): AgentLauncher {
  const isolation = options.isolation ?? 'process';
  if (isolation !== 'process' && isolation !== 'inline') {
    throw new TypeError("options.isolation must be 'process' or 'inline'");
  }
  const hosts = options.sandboxHosts ?? {};
  if (hosts === null || typeof hosts !== 'object' || Array.isArray(hosts)) {
    throw new TypeError('options.sandboxHosts must be an object');
  }
  const checked: Record<string, number> = {};
  for (const [key, value] of Object.entries(hosts)) {
    const bounds = HOST_FIELDS[key];
    if (bounds === undefined) throw new TypeError(`options.sandboxHosts.${key} is not a known option`);
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new TypeError(`options.sandboxHosts.${key} must be an integer`);
    }
    if (value < bounds[0] || value > bounds[1]) {
      throw new RangeError(`options.sandboxHosts.${key} must be between ${bounds[0]} and ${bounds[1]}`);
    }
    checked[key] = value;
  }
  if (isolation === 'inline') return new IsolateLauncher();
  const maxPayloadBytes =
    typeof options.maxPayloadBytes === 'number' ? options.maxPayloadBytes : defaultMaxPayloadBytes;
  const limits = options.limits as { memory_mb?: unknown } | undefined;
  const memory = typeof limits?.memory_mb === 'number' ? limits.memory_mb : undefined;
  return new ProcessLauncher({
    ...checked,
    maxPayloadBytes,
    ...(memory === undefined ? {} : { warmMemoryMb: memory }),
  });
}
