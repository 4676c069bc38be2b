import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Kernel } from '../../index.js';
import type { GuestRealm } from '../../isolates/guest-realm.js';
import { PRELUDE_CONFIG } from '../../isolates/prelude-config.js';
import { RealmPool } from '../../isolates/realm-pool.js';
import { testKernel, waitFor } from '../helpers/kernel.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

// Every realm the pool builds, in order, so a test can reach the idle ones (behaviour is unchanged).
const built: GuestRealm[] = vi.hoisted(() => []);
vi.mock('../../isolates/guest-realm.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../isolates/guest-realm.js')>();
  class RecordedRealm extends original.GuestRealm {
    static override async build(memoryMb: number, config: string) {
      const realm = await original.GuestRealm.build(memoryMb, config);
      built.push(realm);
      return realm;
    }
  }
  return { ...original, GuestRealm: RecordedRealm };
});

describe('RealmPool', () => {
  it('refills after a take, never hands out a realm twice, and disposes idle realms on close', async () => {
    const pool = new RealmPool(PRELUDE_CONFIG, 2);
    const first = await pool.take(32);
    await waitFor(() => pool.idle(32) === 2, 'refill');
    const second = await pool.take(32);
    const third = await pool.take(32);
    expect(new Set([first, second, third]).size).toBe(3);
    expect(second.isolate.isDisposed).toBe(false);
    await waitFor(() => pool.idle(32) === 2, 'refill');
    for (let i = 0; i < 5; i++) await tick();
    expect(pool.idle(32)).toBe(2);
    pool.close();
    expect(pool.idle(32)).toBe(0);
    for (const realm of [first, second, third]) realm.dispose();
  });

  it('keeps separate realms per memory size, with that size’s V8 limit', async () => {
    const pool = new RealmPool(PRELUDE_CONFIG, 1);
    const small = await pool.take(16);
    const large = await pool.take(64);
    await waitFor(() => pool.idle(16) === 1 && pool.idle(64) === 1, 'refill');
    expect(pool.idle(16)).toBe(1);
    expect(pool.idle(64)).toBe(1);
    expect(small.memoryMb).toBe(16);
    expect(large.memoryMb).toBe(64);
    pool.close();
    small.dispose();
    large.dispose();
  });

  it('a refill waits while the agent on a taken realm starts, and runs once it has ended', async () => {
    const pool = new RealmPool(PRELUDE_CONFIG, 2, 60_000);
    (await pool.take(16)).dispose();
    await waitFor(() => pool.idle(16) === 2, 'refill');
    const taken = await pool.take(16);
    expect(pool.idle(16)).toBe(1);
    // Long enough for a refill to have landed had it started (the deferral lasts a minute here).
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < 5; i++) await tick();
    expect(pool.idle(16)).toBe(1);
    taken.dispose();
    await waitFor(() => pool.idle(16) === 2, 'refill after the agent ended');
    pool.close();
  });

  it('a refill waits for a starting agent at most the deferral', async () => {
    const pool = new RealmPool(PRELUDE_CONFIG, 2, 1);
    (await pool.take(16)).dispose();
    await waitFor(() => pool.idle(16) === 2, 'refill');
    const running = await pool.take(16);
    await waitFor(() => pool.idle(16) === 2, 'refill while the agent still runs');
    running.dispose();
    pool.close();
  });

  it('a pool that has run out refills at once, even while agents start', async () => {
    const pool = new RealmPool(PRELUDE_CONFIG, 1, 60_000);
    const first = await pool.take(16);
    await waitFor(() => pool.idle(16) === 1, 'first refill');
    const second = await pool.take(16);
    expect(pool.idle(16)).toBe(0);
    await waitFor(() => pool.idle(16) === 1, 'refill of the empty pool');
    first.dispose();
    second.dispose();
    pool.close();
  });

  it('a realm is claimed once; before that, the guest cannot reach any kernel', async () => {
    const pool = new RealmPool(PRELUDE_CONFIG, 0);
    const realm = await pool.take(16);
    const binding = { enter: () => 'v1', done: () => {}, catastrophe: () => {} };
    realm.claim(binding);
    expect(() => realm.claim(binding)).toThrow(/claimed/);
    realm.dispose();
    pool.close();
  });
});

describe('agents on pooled realms', () => {
  let kernel: Kernel | undefined;
  afterEach(async () => kernel?.close());

  it('share nothing: globals, prototypes and handles of one agent are absent for the next', async () => {
    kernel = testKernel();
    const first = await kernel.run({
      code: 'export default () => { globalThis.left = 1; Object.prototype.polluted = 1; Array.prototype.push = null; return 1; }',
    });
    expect(first.ok).toBe(true);
    const second = await kernel.run({
      code: 'export default () => [typeof globalThis.left, typeof ({}).polluted, typeof [].push]',
    });
    expect(second).toMatchObject({ ok: true, value: ['undefined', 'undefined', 'function'] });
  });
});

describe('RealmPool robustness', () => {
  it('never hands out a realm whose isolate is already disposed', async () => {
    const pool = new RealmPool(PRELUDE_CONFIG, 2);
    (await pool.take(16)).dispose();
    await waitFor(() => pool.idle(16) === 2, 'refill');
    // Dispose both idle realms behind the pool's back, as a catastrophic error would.
    const disposed = built.slice(-2);
    for (const realm of disposed) realm.dispose();
    const taken = await pool.take(16);
    expect(taken.isolate.isDisposed).toBe(false);
    expect(disposed).not.toContain(taken);
    taken.dispose();
    pool.close();
  });
});
