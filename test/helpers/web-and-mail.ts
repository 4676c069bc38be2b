import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { type IsolationMode, testKernel } from './kernel.js';

/**
 * The laundering attacks' setting: `fetch` returns web content (labelled `web`), `mail` refuses anything
 * labelled `web` in any argument and records what it sends; agents may use both and spawn inline code.
 */
export function webAndMailKernel(
  page: string,
  isolation: IsolationMode = 'inline',
): { kernel: Kernel; sent: unknown[] } {
  const sent: unknown[] = [];
  const fetchTool = defineTool({
    name: 'fetch',
    description: 'returns web content',
    input: z.unknown(),
    labels: { source: ['web'] },
    run: () => page,
  });
  const mail = defineTool({
    name: 'mail',
    description: 'sends mail',
    input: z.strictObject({ body: z.unknown() }),
    labels: { sinks: { '*': ['web'] } },
    run: (args) => {
      sent.push(args);
      return 'sent';
    },
  });
  const kernel = testKernel({
    isolation,
    tools: [fetchTool, mail],
    policy: {
      capabilities: [
        { action: 'fetch', resource: 'fetch' },
        { action: 'mail', resource: 'mail' },
        { action: 'agent.spawn', resource: 'inline' },
      ],
    },
  });
  return { kernel, sent };
}
