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
