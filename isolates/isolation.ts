import { type CheckedKernelOptions, DEFAULT_MAX_PAYLOAD_BYTES } from '../runtime/kernel-options.js';
import type { AgentLauncher } from '../runtime/process/agent-launcher.js';
import { IsolateLauncher } from './isolate-launcher.js';
import { ProcessLauncher } from './process-launcher.js';

/**
 * The launcher for `options.isolation` (docs/architecture.md §11): sandbox-host processes by default, the
 * kernel's own process for `'inline'`. `options` are already checked (parseKernelOptions).
 */
export function createLauncher(options: CheckedKernelOptions): AgentLauncher {
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (options.isolation === 'inline') return new IsolateLauncher({ maxPayloadBytes });
  const memory = options.limits?.memory_mb;
  return new ProcessLauncher({
    ...options.sandboxHosts,
    maxPayloadBytes,
    ...(memory === undefined ? {} : { warmMemoryMb: memory }),
  });
}
