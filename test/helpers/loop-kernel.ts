import type { Kernel, KernelOptions } from '../../index.js';
import { createModelTool, type ModelOptions } from '../../tools/model.js';
import { testKernel } from './kernel.js';
import type { ModelServer } from './model-server.js';

/** The capability every loop test needs: the scripted model. */
export const MODEL_RULE = { action: 'model.chat', resource: 'gpt-test' } as const;

/**
 * A kernel for agent-loop tests: the test tools, `model.chat` pointing at the scripted endpoint (no SDK
 * retries), and a policy of `MODEL_RULE` plus `rules`.
 */
export function loopKernel(
  server: ModelServer,
  options: {
    rules?: readonly { action: string; resource: string; max_uses?: number }[];
    kernel?: Omit<KernelOptions, 'policy'>;
    policy?: Record<string, unknown>;
    model?: Partial<ModelOptions>;
  } = {},
): Kernel {
  return testKernel({
    ...options.kernel,
    policy: { ...options.policy, capabilities: [MODEL_RULE, ...(options.rules ?? [])] },
    tools: [
      ...(options.kernel?.tools ?? []),
      createModelTool({ baseURL: server.baseURL, maxRetries: 0, ...options.model }),
    ],
  });
}
