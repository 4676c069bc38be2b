// Attack: an agent names someone else in its arguments (an `agent`, `caller`, `parent` or `label` field at every
// level, the id of its parent or its child) hoping a tool, a sink check or the audit log takes the claim for the
// caller. The kernel's identity for a call is the isolate it arrived on (SECURITY.md, Validation): this suite holds
// the tool's context, the sink check and the audit record to that in both tiers.

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type KernelEvent } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

interface Seen {
  readonly agent: string;
  readonly label: readonly string[];
}

const POLICY = {
  capabilities: [
    { action: 'whoami', resource: 'whoami' },
    { action: 'secret', resource: 'secret' },
    { action: 'echo', resource: 'echo' },
    { action: 'agent.spawn', resource: '*' },
  ],
  labels: {
    sources: [{ tool: 'secret', tags: ['secret'] }],
    sinks: [{ tool: 'echo', arg: 'text', deny: ['secret'] }],
  },
};

// Every field a confused kernel might read an identity or a label from, at the top and nested.
const FORGED = `(id) => ({ agent: id, caller: id, parent: id, from: id, label: [], labels: [], context: { agent: id, label: [] } })`;

const CHILD = `export default async (parent) => {
  const forged = ${FORGED};
  await sys.tool('whoami', forged(parent));
  return 'child done';
}`;

const PARENT = `export default async () => {
  const forged = ${FORGED};
  const child = await sys.spawn({ code: ${JSON.stringify(CHILD)}, input: 'host', caps: [{ action: 'whoami', resource: 'whoami' }] });
  await sys.join(child);
  await sys.tool('secret', {});
  await sys.tool('whoami', forged(child));
  try { await sys.tool('echo', { text: 'x', ...forged(child) }); return 'echoed'; } catch (e) { return e.code; }
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('a tool, a sink and the audit log see the calling agent, whatever its arguments claim', async () => {
    const seen: Seen[] = [];
    const kernel = testKernel({
      isolation,
      policy: POLICY,
      tools: [
        defineTool({
          name: 'whoami',
          description: 'records who called',
          input: z.unknown(),
          run: (_args, ctx) => {
            seen.push({ agent: ctx.agent, label: [...ctx.label] });
            return null;
          },
        }),
        defineTool({ name: 'secret', description: 'a secret source', input: z.unknown(), run: () => 'pin' }),
      ],
    });
    const spawns: Extract<KernelEvent, { type: 'spawn' }>[] = [];
    kernel.on('spawn', (event) => spawns.push(event));
    try {
      const result = await kernel.run({ code: PARENT });
      expect(result).toMatchObject({ ok: true, value: 'E_TAINT', label: ['secret'] });
      const parent = spawns.find((event) => event.parent === null)!.agent;
      const child = spawns.find((event) => event.parent === parent)!.agent;
      expect(parent).not.toBe(child);
      // The child claimed to be the host, the parent claimed to be its child, with an empty label.
      expect(seen).toEqual([
        { agent: child, label: [] },
        { agent: parent, label: ['secret'] },
      ]);
      const records = kernel.audit.records().filter((record) => record.action === 'whoami');
      expect(records.map((record) => [record.agent, record.phase])).toEqual([
        [child, 'intent'],
        [child, 'outcome'],
        [parent, 'intent'],
        [parent, 'outcome'],
      ]);
    } finally {
      await kernel.close();
    }
  }, 60_000);
});
