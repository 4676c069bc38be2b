import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineTool, type Tool } from '../../index.js';

/**
 * `lookup`: a tool that answers 'found' after `ms`, with no bound on calls at once (every call runs and stays
 * pending meanwhile): what attacks that park arguments in the kernel call.
 */
export function slowLookupTool(ms = 1500): Tool {
  return defineTool({
    name: 'lookup',
    description: 'asks a slow backend',
    input: z.unknown(),
    run: async () => {
      await sleep(ms);
      return 'found';
    },
  });
}

/**
 * `hold`: a tool whose call waits until the test calls `release()`; `holding` resolves once a call is waiting. For
 * reading the host's reports of an agent while it is live (`kernel.agents()`).
 */
export function holdTool(): { tool: Tool; holding: Promise<void>; release(): void } {
  let release = (): void => {};
  let held = (): void => {};
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  const tool = defineTool({
    name: 'hold',
    description: 'waits for the host',
    input: z.strictObject({}),
    run: () =>
      new Promise<void>((resolve) => {
        release = resolve;
        held();
      }),
  });
  return { tool, holding, release: () => release() };
}
