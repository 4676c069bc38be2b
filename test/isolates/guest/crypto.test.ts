// crypto.getRandomValues and crypto.randomUUID inside the guest (isolates/guest/crypto.cjs): a ChaCha20
// keystream keyed once per agent by the kernel's `random` syscall.
import { createCipheriv } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel, KernelEvent } from '../../../index.js';
import { guestInVm } from '../../helpers/guest-vm.js';
import { ISOLATION_MODES, testKernel, waitFor } from '../../helpers/kernel.js';

let kernel: Kernel;
const events: KernelEvent[] = [];
beforeAll(() => {
  kernel = testKernel({ limits: { cpu_ms: 5000, wall_ms: 10_000 } });
  kernel.on('syscall', (event) => events.push(event));
});
afterAll(async () => {
  await kernel.close();
});

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// The seed is asked for synchronously (getRandomValues is synchronous); in the process tier every syscall of
// the sandbox host travels as a frame, so the host answers this one itself and the kernel still counts and
// audits it.
describe.each(ISOLATION_MODES)('%s tier: crypto in the guest', (isolation) => {
  let tierKernel: Kernel;
  const tierEvents: KernelEvent[] = [];
  beforeAll(() => {
    tierKernel = testKernel({ isolation, limits: { cpu_ms: 5000, wall_ms: 10_000 } });
    tierKernel.on('syscall', (event) => tierEvents.push(event));
  });
  afterAll(async () => {
    await tierKernel.close();
  });

  it('randomUUID gives v4 UUIDs, unique within and across agents, for one random syscall per agent', async () => {
    const code = `export default () => {
      const ids = [];
      for (let i = 0; i < 2000; i++) ids.push(crypto.randomUUID());
      const bytes = crypto.getRandomValues(new Uint8Array(4096));
      const counts = new Array(256).fill(0);
      for (const b of bytes) counts[b]++;
      return { ids, max: Math.max(...counts), min: Math.min(...counts) };
    }`;
    tierEvents.length = 0;
    const first = await tierKernel.run({ code });
    const second = await tierKernel.run({ code });
    expect(first.ok && second.ok, JSON.stringify(first).slice(0, 300)).toBe(true);
    if (!first.ok || !second.ok) return;
    const a = first.value as { ids: string[]; max: number; min: number };
    const b = second.value as { ids: string[] };
    for (const id of a.ids) expect(id).toMatch(UUID_V4);
    expect(new Set([...a.ids, ...b.ids]).size).toBe(4000);
    // 4096 bytes over 256 values: 16 expected per value; a stuck generator would be far outside this.
    expect(a.max).toBeLessThan(45);
    expect(a.min).toBeGreaterThan(0);
    await waitFor(() => tierEvents.filter((event) => event.type === 'syscall').length >= 2, 'both seeds audited');
    expect(tierEvents.filter((event) => event.type === 'syscall' && event.syscall === 'random')).toHaveLength(2);
  });

  // SECURITY.md guarantee 12: in the process tier the seed is the sandbox host's own and the call is relayed
  // unawaited, so nothing there waits on the kernel's answer; the kernel must still count and audit it.
  it('random is counted and audited: one syscall event, usage.syscalls 1, a crypto.seed intent and outcome', async () => {
    tierEvents.length = 0;
    const handle = tierKernel.spawn({
      namespace: 'seeded',
      code: `export default () => {
        const a = crypto.getRandomValues(new Uint8Array(16));
        const id = crypto.randomUUID();
        return [a.length, id.length];
      }`,
    });
    const result = await handle.result;
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: [16, 36], usage: { syscalls: 1 } });
    // Its own namespace, so the query reads this agent's records alone whatever the suite ran before.
    const seeds = tierKernel.audit
      .records({ namespace: 'seeded' })
      .filter((record) => record.agent === handle.id && record.action === 'crypto.seed');
    expect(seeds.map((record) => [record.syscall, record.phase, record.status])).toEqual([
      ['random', 'intent', null],
      ['random', 'outcome', 'ok'],
    ]);
    const ours = tierEvents.filter((event) => event.type === 'syscall' && event.agent === handle.id);
    expect(ours).toMatchObject([{ syscall: 'random', code: null, refused: false }]);
  });
});

describe('crypto in the guest', () => {
  it('getRandomValues fills integer typed arrays in place and refuses what the web refuses', async () => {
    const result = await kernel.run({
      code: `export default () => {
        const out = {};
        const u32 = new Uint32Array(8);
        out.same = crypto.getRandomValues(u32) === u32;
        out.nonzero = u32.some((v) => v !== 0);
        const big = new BigInt64Array(2);
        crypto.getRandomValues(big);
        out.big = typeof big[0];
        const sub = new Uint8Array(16);
        crypto.getRandomValues(sub.subarray(4, 8));
        out.window = [sub.slice(0, 4).every((v) => v === 0), sub.slice(8).every((v) => v === 0)];
        const name = (f) => { try { f(); return 'accepted'; } catch (e) { return e.name; } };
        out.float = name(() => crypto.getRandomValues(new Float64Array(2)));
        out.plain = name(() => crypto.getRandomValues([1, 2]));
        out.quota = name(() => crypto.getRandomValues(new Uint8Array(65537)));
        out.tag = String(crypto);
        return out;
      }`,
    });
    expect(result).toMatchObject({
      ok: true,
      value: {
        same: true,
        nonzero: true,
        big: 'bigint',
        window: [true, true],
        float: 'TypeMismatchError',
        plain: 'TypeMismatchError',
        quota: 'QuotaExceededError',
        tag: '[object Crypto]',
      },
    });
  });

  it("the keystream is ChaCha20's (RFC 8439) for the kernel's seed: it matches OpenSSL's chacha20", () => {
    // The kernel's seed is random by design; here the prelude runs in a vm context and is given a known one.
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const run = guestInVm((syscall) => {
      if (syscall !== 'random') throw new Error(syscall);
      return key.toString('base64');
    });
    const guest = run('Array.from(crypto.getRandomValues(new Uint8Array(200)))') as number[];
    // OpenSSL's chacha20 IV: a 32-bit little-endian block counter, then the 96-bit nonce; both zero here.
    const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
    expect(guest).toEqual([...cipher.update(Buffer.alloc(200))]);
  });
});
