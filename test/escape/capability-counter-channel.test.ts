import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack (red-team issue 12, item 11): use counters are a channel. A child labelled `email` spends N uses of
 * a capability its unlabelled parent delegated; the parent reads `remainingUses` from `sys.caps()` (or probes
 * the counter: uses until E_CAP_EXHAUSTED, delegations refused with E_ESCALATION, the snapshot that records
 * it) and learns N without ever reading the child's result. Reading a counter a more-labelled agent moved
 * raises the reader's label by that agent's label, so the parent cannot mail N (E_TAINT).
 * Sibling: the parent's quota counters (tool_calls, cpu_ms, ...) are moved by its children's use; asking for a
 * child budget reveals what remains, so the same rule holds for them.
 */
const SECRET_N = 7;
let kernel: Kernel | undefined;
const sent: unknown[] = [];

afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  sent.length = 0;
});

const inbox = defineTool({
  name: 'inbox',
  description: 'the number the child must not leak',
  input: z.unknown(),
  labels: { source: ['email'] },
  run: () => SECRET_N,
});
const mail = defineTool({
  name: 'mail',
  description: 'sends mail',
  input: z.strictObject({ body: z.unknown() }),
  labels: { sinks: { '*': ['email'] } },
  run: (args) => {
    sent.push(args);
    return 'sent';
  },
});

function counterKernel(limits: Record<string, number> = {}): Kernel {
  kernel = testKernel({
    tools: [inbox, mail],
    limits,
    policy: {
      capabilities: [
        { action: 'echo', resource: 'echo', max_uses: 10 },
        { action: 'inbox', resource: 'inbox' },
        { action: 'mail', resource: 'mail' },
        { action: 'sleep', resource: 'sleep' },
      ],
    },
  });
  // The child reads N (and is labelled email), then spends N uses of echo; it never returns N.
  kernel.programs.add(
    'spender',
    `export default async () => {
      const n = await sys.tool('inbox');
      for (let i = 0; i < n; i++) await sys.tool('echo', i);
      return 'done';
    }`,
  );
  return kernel;
}

// The parent starts the child with all 10 echo uses and waits for it without joining (a join would label it).
const PARENT = (probe: string) => `export default async () => {
  const echo = (await sys.caps()).find((c) => c.action === 'echo');
  await sys.spawn({ program: 'spender', caps: [{ from: echo.id, max_uses: 10 }, { action: 'inbox', resource: 'inbox' }] });
  await sys.tool('sleep', { ms: 400 });
  let learned;
  ${probe}
  const label = await sys.label();
  try { await sys.tool('mail', { body: String(learned) }); return [label, 'sent', learned]; }
  catch (e) { return [label, e.code, learned]; }
}`;

async function runParent(k: Kernel, probe: string): Promise<unknown> {
  const result = await k.run({ code: PARENT(probe) });
  return result.ok ? result.value : result.error;
}

describe('capability use counters moved by a labelled child', () => {
  it('remainingUses from sys.caps() is labelled email: the parent cannot mail N', async () => {
    const k = counterKernel();
    const value = await runParent(
      k,
      `learned = 10 - (await sys.caps()).find((c) => c.action === 'echo').remainingUses;`,
    );
    expect(value).toEqual([['email'], 'E_TAINT', SECRET_N]);
    expect(sent).toEqual([]);
  });

  it('counting uses until E_CAP_EXHAUSTED is labelled email', async () => {
    const k = counterKernel();
    const value = await runParent(
      k,
      `learned = 0; try { for (;;) { await sys.tool('echo', 0); learned++; } } catch (e) { if (e.code !== 'E_CAP_EXHAUSTED') throw e; }
       learned = 10 - learned;`,
    );
    expect(value).toEqual([['email'], 'E_TAINT', SECRET_N]);
    expect(sent).toEqual([]);
  });

  it('probing with delegations (E_ESCALATION past the remaining uses) is labelled email', async () => {
    const k = counterKernel();
    k.programs.add('idle', 'export default async () => 0');
    const value = await runParent(
      k,
      `const echoId = (await sys.caps()).find((c) => c.action === 'echo').id;
       learned = 10;
       for (let ask = 10; ask >= 1; ask--) {
         try { await sys.spawn({ program: 'idle', caps: [{ from: echoId, max_uses: ask }] }); learned = 10 - ask; break; }
         catch (e) { if (e.code !== 'E_ESCALATION') throw e; }
       }`,
    );
    expect(value).toEqual([['email'], 'E_TAINT', SECRET_N]);
    expect(sent).toEqual([]);
  });

  it("a snapshot (whose id covers the capabilities' remaining uses) is labelled email", async () => {
    const k = counterKernel();
    const value = await runParent(k, `learned = await sys.snapshot({});`);
    expect(value).toEqual([['email'], 'E_TAINT', expect.stringMatching(/^[0-9a-f]{64}$/)]);
    expect(sent).toEqual([]);
  });

  it('benign twin: an unlabelled child spending uses leaves the parent unlabelled', async () => {
    const k = counterKernel();
    k.programs.add('spender', `export default async () => { for (let i = 0; i < 3; i++) await sys.tool('echo', i); }`);
    const value = await runParent(
      k,
      `learned = 10 - (await sys.caps()).find((c) => c.action === 'echo').remainingUses;`,
    );
    expect(value).toEqual([[], 'sent', 3]);
  });
});

describe('quota counters moved by a labelled child', () => {
  it('asking for a child budget past what remains of tool_calls is labelled email', async () => {
    const k = counterKernel({ tool_calls: 30 });
    k.programs.add('idle', 'export default async () => 0');
    // Parent: caps (0 calls), spawn, sleep (1 call); the child: inbox + N echoes.
    const value = await runParent(
      k,
      `learned = undefined;
       try { await sys.spawn({ program: 'idle', budget: { tool_calls: 30 } }); }
       catch (e) { learned = e.code + ' ' + e.message; }`,
    );
    expect(value).toEqual([['email'], 'E_TAINT', expect.stringContaining('E_QUOTA')]);
    expect(sent).toEqual([]);
  });

  it('benign twin: the same budget request after an unlabelled child is not labelled', async () => {
    const k = counterKernel({ tool_calls: 30 });
    k.programs.add('idle', 'export default async () => 0');
    k.programs.add('spender', `export default async () => { await sys.tool('echo', 1); }`);
    const value = await runParent(
      k,
      `try { await sys.spawn({ program: 'idle', budget: { tool_calls: 30 } }); } catch (e) { learned = e.code; }`,
    );
    expect(value).toEqual([[], 'sent', 'E_QUOTA']);
  });

  // Red-team pass 30: a snapshot records the counted use, and the restored agent starts from it. The body kept
  // only the caller's own label, so a parent that never read its labelled child forked itself and the fork,
  // clean, counted the child's calls in what its budget refused.
  const FORKING_PARENT = `export default async () => {
    if ((await sys.restored()) === undefined) {
      const echo = (await sys.caps()).find((c) => c.action === 'echo');
      await sys.spawn({ program: 'spender', caps: [{ from: echo.id, max_uses: 10 }, { action: 'inbox', resource: 'inbox' }] });
      await sys.tool('sleep', { ms: 400 });
      return await sys.snapshot({ forked: true });
    }
    let learned = 'none';
    try { await sys.spawn({ program: 'idle', budget: { tool_calls: 30 } }); } catch (e) { learned = e.code; }
    const label = await sys.label();
    try { await sys.tool('mail', { body: learned }); return [label, 'sent', learned]; }
    catch (e) { return [label, e.code, learned]; }
  }`;

  async function forkAndProbe(k: Kernel): Promise<unknown> {
    k.programs.add('idle', 'export default async () => 0');
    const first = await k.run({ code: FORKING_PARENT });
    if (!first.ok) throw new Error(first.error.message);
    const restored = await (await k.restore(String(first.value), { limits: { tool_calls: 30 } })).result;
    return restored.ok ? restored.value : restored.error;
  }

  it('a restored snapshot keeps the labels of the counted use it starts from', async () => {
    const value = await forkAndProbe(counterKernel({ tool_calls: 30 }));
    expect(value).toEqual([['email'], 'E_TAINT', 'E_QUOTA']);
    expect(sent).toEqual([]);
  });

  it('benign twin: restored after an unlabelled child, the same probe is not labelled', async () => {
    const k = counterKernel({ tool_calls: 30 });
    k.programs.add('spender', `export default async () => { await sys.tool('echo', 1); }`);
    expect(await forkAndProbe(k)).toEqual([[], 'sent', 'E_QUOTA']);
  });
});
