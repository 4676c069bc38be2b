import { z } from 'zod';
import { defineTool, type Kernel, type Tool } from '../../index.js';
import { type IsolationMode, testKernel } from './kernel.js';

/** The PIN `pinVault` returns. */
export const PIN = '4921';

/** `vault.read`: returns `{ pin: PIN }`, labelled `secret`. */
export const pinVault: Tool = defineTool({
  name: 'vault.read',
  description: 'reads the PIN',
  input: z.strictObject({}),
  labels: { source: ['secret'] },
  run: () => ({ pin: PIN }),
});

/** `fetch`: returns `page`, labelled `web` by the tool's own source tags. */
export function webSource(page: string): Tool {
  return defineTool({
    name: 'fetch',
    description: 'returns web content',
    input: z.unknown(),
    labels: { source: ['web'] },
    run: () => page,
  });
}

/** A tool named `name` that refuses `refuses` in any argument and records in `sent` what it sends. */
export function recordingSink(name: string, refuses: readonly string[], sent: unknown[]): Tool {
  return defineTool({
    name,
    description: 'sends a message out',
    input: z.strictObject({ body: z.unknown() }),
    labels: { sinks: { '*': [...refuses] } },
    run: (args) => {
      sent.push(args);
      return 'sent';
    },
  });
}

/**
 * The laundering attacks' setting: `fetch` returns web content (labelled `web`), `mail` refuses anything
 * labelled `web` in any argument and records what it sends; agents may use both and spawn inline code.
 */
export function webAndMailKernel(
  page: string,
  isolation: IsolationMode = 'inline',
): { kernel: Kernel; sent: unknown[] } {
  const sent: unknown[] = [];
  const kernel = testKernel({
    isolation,
    tools: [webSource(page), recordingSink('mail', ['web'], sent)],
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
