// Attack: learn whether a labelled descendant has ended from how sys.kill answers. A labelled grandchild ends
// or stays alive depending on a secret bit; its grandparent, clean, kills it by id: a direct child answers the
// same ended or live, but a deeper descendant that had ended was E_NOT_FOUND while a live one was killed, so
// the bit reached the grandparent without its label rising. sys.kill must answer the same for every id ever
// spawned in the caller's subtree, live or ended (and E_NOT_FOUND for any other).
// No timing: the grandchildren read the secret only once the child has handed their ids up (while clean: a
// grandchild's spending before the child's second spawn would label the child, and the ids with it), and the
// top agent waits at a host-controlled gate that opens once one grandchild has ended and the other is live and
// labelled.

import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel, waitFor } from '../helpers/kernel.js';

const SECRET = 'sk-live-Zq7Wm4Xr9Tb2';

/** Reads the secret (its label becomes `secret`); ends when asked to, else stays alive. */
const GRANDCHILD = `export default async (end) => {
  await sys.tool('start', {});
  await sys.tool('secrets.get', {});
  if (end) return 'ended';
  await new Promise(() => {});
}`;

/** Spawns the ended grandchild first, then the live one, hands their ids up while clean, and stays alive. */
const CHILD = `export default async () => {
  const caps = [{ action: 'secrets.read', resource: 'secrets.get' }, { action: 'start', resource: 'start' }];
  // Budgets of their own: a labelled grandchild's use of a shared one would label the child (quota.ts).
  const budget = { cpu_ms: 2000, syscalls: 100, children: 0 };
  const ended = await sys.spawn({ code: ${JSON.stringify(GRANDCHILD)}, input: true, caps, budget });
  const live = await sys.spawn({ code: ${JSON.stringify(GRANDCHILD)}, input: false, caps, budget });
  await sys.mem.put('ids', { ended, live }, { mount: 'up' });
  await sys.tool('ready', {});
  await new Promise(() => {});
}`;

const TOP = `export default async () => {
  const child = await sys.spawn({ code: ${JSON.stringify(CHILD)}, mounts: [{ name: 'up', mode: 'rw' }], caps: [
    { action: 'secrets.read', resource: 'secrets.get' },
    { action: 'start', resource: 'start' },
    { action: 'ready', resource: 'ready' },
    { action: 'agent.spawn', resource: 'inline' },
  ] });
  await sys.tool('gate', {});
  const ids = await sys.mem.get('ids');
  const answer = async (id) => { try { await sys.kill(id); return 'ok'; } catch (e) { return e.code; } };
  const ended = await answer(ids.ended);
  const live = await answer(ids.live);
  const stranger = await answer('00000000-0000-4000-8000-000000000000');
  let sent;
  try { await sys.tool('exfil', { body: ended + live }); sent = 'sent'; } catch (e) { sent = e.code; }
  await sys.kill(child);
  return { ended, live, stranger, sent, label: await sys.label() };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  describe('kill descendant oracle', () => {
    it('sys.kill answers the same for an ended and a live labelled grandchild, and the caller stays clean', async () => {
      let open: () => void = () => undefined;
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      let openStart: () => void = () => undefined;
      const started = new Promise<void>((resolve) => {
        openStart = resolve;
      });
      const received: unknown[] = [];
      const k = testKernel({
        isolation,
        tools: [
          defineTool({
            name: 'secrets.get',
            description: 'returns a stored credential',
            action: 'secrets.read',
            input: z.strictObject({}),
            labels: { source: ['secret'] },
            run: () => SECRET,
          }),
          defineTool({
            name: 'gate',
            description: 'waits until the host opens it',
            input: z.strictObject({}),
            run: async () => {
              await opened;
              return null;
            },
          }),
          defineTool({
            name: 'start',
            description: 'waits until the child has handed the ids up',
            input: z.strictObject({}),
            run: async () => {
              await started;
              return null;
            },
          }),
          defineTool({
            name: 'ready',
            description: 'the child has handed the ids up',
            input: z.strictObject({}),
            run: () => {
              openStart();
              return null;
            },
          }),
          defineTool({
            name: 'exfil',
            description: 'a sink that refuses secret in every argument',
            input: z.strictObject({ body: z.unknown() }),
            labels: { sinks: { '*': ['secret'] } },
            run: (args) => {
              received.push(args);
              return null;
            },
          }),
        ],
        policy: {
          capabilities: [
            { action: 'secrets.read', resource: 'secrets.get' },
            { action: 'gate', resource: 'gate' },
            { action: 'start', resource: 'start' },
            { action: 'ready', resource: 'ready' },
            { action: 'exfil', resource: 'exfil' },
            { action: 'agent.spawn', resource: 'inline' },
          ],
        },
      });
      kernel = k;
      const run = k.run({ code: TOP });
      // Top, child and the live grandchild remain, the grandchild labelled: the other one (spawned first) ended.
      await waitFor(
        () => k.agents().length === 3 && k.agents().some((agent) => agent.label.includes('secret')),
        'one grandchild ended, the other live and labelled',
        20_000,
      );
      open();
      const result = await run;
      expect(result, JSON.stringify(result)).toMatchObject({
        ok: true,
        value: { ended: 'ok', live: 'ok', stranger: 'E_NOT_FOUND', sent: 'sent', label: [] },
      });
      // The bits sent carry nothing: both answers were the same.
      expect(received).toEqual([{ body: 'okok' }]);
    });
  });
});
