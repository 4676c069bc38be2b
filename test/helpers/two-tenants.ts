import { z } from 'zod';
import { defineTool } from '../../index.js';
import type { Limits } from '../../runtime/process/limits.js';
import type { RunResult } from '../../runtime/process/run-result.js';
import { type IsolationMode, testKernel, testToolsPolicy } from './kernel.js';

/**
 * The scene of the cross-tenant oracle tests: a holder in tenant `alice` reads `secret` from a tool whose results
 * carry `source`, does what its code does and logs 'ready' (then waits forever); a prober in tenant `bob` then
 * runs and may call `post`, a sink that refuses `web` and records what it was sent. Both share one kernel with
 * `maxHeldBytes`, where one tenant may hold the agents' whole half (as when many tenants fill their shares),
 * closed at the end (which ends the holder).
 */
export async function twoTenants(options: {
  readonly isolation: IsolationMode;
  readonly secret: unknown;
  readonly source: readonly string[];
  readonly maxHeldBytes: number;
  readonly holder: string;
  readonly prober: string;
  readonly proberLimits?: Partial<Limits>;
}): Promise<{ prober: RunResult; holder: RunResult; sent: unknown[] }> {
  const sent: unknown[] = [];
  const secret = defineTool({
    name: 'secret.get',
    description: 'a secret from a source labelled by the test',
    input: z.unknown(),
    labels: { source: [...options.source] },
    run: () => options.secret,
  });
  const post = defineTool({
    name: 'post',
    description: 'a sink refusing web',
    input: z.strictObject({ body: z.unknown() }),
    labels: { sinks: { '*': ['web'] } },
    run: (args) => {
      sent.push(args.body);
      return 'sent';
    },
  });
  const kernel = testKernel({
    isolation: options.isolation,
    maxHeldBytes: options.maxHeldBytes,
    // One tenant may fill the agents' whole half: the scene is the pool's refusals, which other tenants see.
    maxHeldBytesPerTenant: Math.ceil(options.maxHeldBytes / 2),
    tools: [secret, post],
    policy: {
      capabilities: [
        ...testToolsPolicy.capabilities,
        { action: 'secret.get', resource: 'secret.get' },
        { action: 'post', resource: 'post' },
        { action: 'agent.spawn', resource: '**' },
      ],
    },
  });
  try {
    const ready = new Promise<void>((resolve) => {
      kernel.on('log', (event) => {
        if (event.text === 'ready') resolve();
      });
    });
    const holder = kernel.run({ code: options.holder, namespace: 'alice', limits: { wall_ms: 120_000 } });
    await ready;
    const prober = await kernel.run({
      code: options.prober,
      namespace: 'bob',
      limits: { wall_ms: 120_000, ...options.proberLimits },
    });
    await kernel.close();
    return { prober, holder: await holder, sent };
  } finally {
    await kernel.close();
  }
}
