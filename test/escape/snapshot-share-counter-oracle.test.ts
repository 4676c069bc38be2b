// Attack (red-team pass 73): read a capability counter a labelled agent of another tenant moved, through which
// snapshot a tenant's share refuses. A snapshot lists the remaining uses of its capabilities, so its size depends
// on them, and the id carried their labels; but a refusal by the tenant's share carried only the body's label.
// The host shares a counted `echo` with two tenants; B reads the PIN and spends 10 uses when its first digit is
// odd, 1 when it is even (19 → 9 or 18: the body one character shorter or not). P pads its tenant to two bytes under what Q's snapshot took, and
// Q's second snapshot was refused clean exactly when the digit was even: P mailed the bit. A refusal then carried
// everything that sized the body, and the share took it on; since red-team pass 108 the body lists no remaining
// uses at all, so what Q's snapshots take of the share, and what P sees, no longer depend on B's spending.
import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel, type RunResult } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { PIN, recordingSink } from '../helpers/web-and-mail.js';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

const sleep = 'new Promise((r) => setTimeout(r, 3))';

// Another tenant: spends 10 of the shared uses when the PIN's first digit is odd, 1 when it is even (19 → 9 or 18).
const B = `export default async () => {
  while ((await sys.tool('signal.get', { k: 'read' })) !== true) await ${sleep};
  const { pin } = await sys.tool('vault.read', {});
  const spend = Number(pin[0]) % 2 === 1 ? 10 : 1;
  for (let i = 0; i < spend; i++) await sys.tool('echo', { i });
  return 'done';
}`;

// P's clean child: the same snapshot twice, before and after B ran; reports a refusal in P's namespace.
const Q = `export default async () => {
  const wait = async (k) => { while ((await sys.mem.get(k, { mount: 'p' })) !== 1) await ${sleep}; };
  await wait('go1');
  await sys.snapshot('state');
  await sys.mem.put('ack1', 1, { mount: 'p' });
  await wait('go2');
  try { await sys.snapshot('state'); return 'taken'; }
  catch (e) { await sys.mem.put('refused', 1, { mount: 'p' }); return { code: e.code, label: await sys.label() }; }
}`;

// Measures what Q's first snapshot took of the share, then leaves two bytes less for the second.
const P = `export default async () => {
  let echo;
  while (!(echo = (await sys.caps()).find((c) => c.action === 'echo'))) await ${sleep};
  for (const k of ['go1', 'ack1', 'go2', 'refused']) await sys.mem.put(k, 0);
  const q = await sys.spawn({ program: 'q', caps: [{ from: echo.id }], budget: { cpu_ms: 5000, syscalls: 5000, tool_calls: 30 },
    mounts: [{ name: 'p', mode: 'rw' }] });
  const fits = async (n) => {
    try { await sys.mem.put('pad', 'x'.repeat(n)); return true; } catch (e) { if (e.code !== 'E_QUOTA') throw e; return false; }
  };
  const largest = async () => {
    let lo = -1, hi = 200000;
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (await fits(mid)) lo = mid; else hi = mid; }
    return lo;
  };
  const free = async () => { const n = await largest(); await sys.mem.delete('pad'); return n; };
  const before = await free();
  await sys.mem.put('go1', 1);
  while ((await sys.mem.get('ack1')) !== 1) await ${sleep};
  const took = before - (await free());
  await sys.tool('signal.set', { k: 'calibrated' });
  while ((await sys.tool('signal.get', { k: 'go2' })) !== true) await ${sleep};
  await sys.mem.put('pad', 'x'.repeat((await largest()) - (took - 1)));
  await sys.mem.put('go2', 1);
  const child = await sys.join(q, { handle: true });
  const bit = (await sys.mem.get('refused')) === 1 ? 0 : 1;
  const label = await sys.label();
  if (label.length === 0) await sys.tool('mail', { body: { bit } });
  return { bit, label };
}`;

async function attack(pin: string): Promise<{ p: RunResult; sent: unknown[] }> {
  const sent: unknown[] = [];
  const flags: Record<string, boolean> = {};
  const k = testKernel({
    maxStoredBytesPerTenant: 300_000,
    tools: [
      defineTool({
        name: 'vault.read',
        description: 'the PIN',
        input: z.strictObject({}),
        labels: { source: ['secret'] },
        run: () => ({ pin }),
      }),
      defineTool({
        name: 'signal.get',
        description: 'reads a host flag',
        input: z.strictObject({ k: z.string() }),
        run: ({ k }) => flags[k] === true,
      }),
      defineTool({
        name: 'signal.set',
        description: 'tells the host P is calibrated',
        input: z.strictObject({ k: z.literal('calibrated') }),
        run: ({ k }) => {
          flags[k] = true;
        },
      }),
      recordingSink('mail', ['secret'], sent),
    ],
    policy: {
      capabilities: [
        { action: 'vault.read', resource: 'vault.read' },
        { action: 'signal.get', resource: 'signal.get' },
        { action: 'signal.set', resource: 'signal.set' },
        { action: 'mail', resource: 'mail' },
      ],
    },
  });
  kernel = k;
  // Q's program is kept as a blob charged at its length: an even length, as every other charge is.
  k.programs.add('q', Buffer.byteLength(Q) % 2 === 0 ? Q : `${Q} `);
  const shared = k.grant(k.hostPublicKey, { action: 'echo', resource: 'echo', maxUses: 19 });
  const p = k.spawn({ code: P, namespace: 'tenanta', limits: { cpu_ms: 20_000, wall_ms: 60_000 } });
  const b = k.spawn({ code: B, namespace: 'tenantb', limits: { cpu_ms: 20_000, wall_ms: 60_000 } });
  k.delegate(shared.id, p.id);
  k.delegate(shared.id, b.id);
  while (!flags['calibrated']) await new Promise((resolve) => setTimeout(resolve, 5));
  flags['read'] = true;
  expect(await b.result).toMatchObject({ ok: true, label: ['secret'] });
  flags['go2'] = true;
  return { p: await p.result, sent };
}

it("a snapshot's size, and so a share's refusal, does not depend on a counter a labelled agent moved", async () => {
  expect(PIN[0]).toBe('4');
  const even = await attack(PIN);
  const odd = await attack(`7${PIN.slice(1)}`);
  expect(even.p.ok).toBe(true);
  expect(odd.p).toMatchObject({ ok: even.p.ok, value: (even.p as { value: unknown }).value, label: even.p.label });
  expect(odd.sent).toEqual(even.sent);
});
