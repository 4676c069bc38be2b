import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeldMemoryPool } from '../../../runtime/process/held-memory.js';
import { MemoryBlobStore } from '../../../runtime/store/blob-store.js';
import { MemoryKvStore } from '../../../runtime/store/kv-store.js';
import { StoreShares, tenantOf } from '../../../runtime/store/store-shares.js';

function shares(poolBytes: number, share: number): StoreShares {
  return new StoreShares(new HeldMemoryPool(poolBytes), share);
}

describe('tenantOf', () => {
  it("is a namespace's first segment", () => {
    expect(tenantOf('alice')).toBe('alice');
    expect(tenantOf('alice/worker')).toBe('alice');
    expect(tenantOf('alice/worker/x1')).toBe('alice');
  });
});

describe('StoreShares', () => {
  it('refuses a tenant past its share with E_QUOTA, taking nothing, while others still take', () => {
    const s = shares(1000, 300);
    s.take('mallory', 250);
    expect(() => s.take('mallory', 51)).toThrow(expect.objectContaining({ code: 'E_QUOTA' }));
    expect(s.used('mallory')).toBe(250);
    expect(s.pool.used).toBe(250);
    s.take('alice', 300);
    expect(s.pool.used).toBe(550);
  });

  it('refuses when the pool is full even within the share, and takes nothing from the share', () => {
    const s = shares(500, 300);
    s.take('a', 300);
    expect(() => s.take('b', 250)).toThrow(expect.objectContaining({ code: 'E_QUOTA' }));
    expect(s.used('b')).toBe(0);
  });

  it("the kernel's own entries draw on the pool alone", () => {
    const s = shares(1000, 10);
    s.take(undefined, 900);
    expect(s.pool.used).toBe(900);
    s.give(undefined, 900);
    expect(s.pool.used).toBe(0);
  });

  it('count charges a repeat as take charges new content, share and pool, and never the kernel', () => {
    // Charged to the share alone, a repeat still fit where new content did not once the pool was full.
    const s = shares(1000, 800);
    s.take('b', 750);
    s.count('a', 200);
    expect([s.used('a'), s.pool.used]).toEqual([200, 950]);
    // The pool binds first, then the share.
    expect(() => s.count('a', 51)).toThrow(expect.objectContaining({ code: 'E_QUOTA' }));
    s.give('b', 750);
    expect(() => s.count('a', 601)).toThrow(expect.objectContaining({ code: 'E_QUOTA' }));
    expect([s.used('a'), s.pool.used]).toEqual([200, 200]);
    s.count(undefined, 5000);
    expect(s.pool.used).toBe(200);
  });

  it('replace charges only the difference for the same tenant, and changes nothing when it refuses', () => {
    const s = shares(1000, 300);
    s.take('a', 250);
    s.replace('a', 250, 'a', 280);
    expect(s.used('a')).toBe(280);
    expect(() => s.replace('a', 280, 'a', 301)).toThrow(expect.objectContaining({ code: 'E_QUOTA' }));
    expect(s.used('a')).toBe(280);
    expect(s.pool.used).toBe(280);
    s.replace('a', 280, 'b', 100);
    expect([s.used('a'), s.used('b'), s.pool.used]).toEqual([0, 100, 100]);
  });

  it('throws RangeError for a share that is not a positive integer', () => {
    expect(() => shares(100, 0)).toThrow(RangeError);
    expect(() => shares(100, 1.5)).toThrow(RangeError);
  });

  it('property: no tenant ever holds more than its share, and the pool holds exactly what the tenants do', () => {
    const op = fc.record({
      tenant: fc.constantFrom('a', 'b', 'c'),
      bytes: fc.integer({ min: 0, max: 400 }),
      give: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const s = shares(1000, 350);
        const held = new Map<string, number[]>();
        for (const { tenant, bytes, give } of ops) {
          const mine = held.get(tenant) ?? [];
          if (give && mine.length > 0) {
            s.give(tenant, mine.pop()!);
          } else {
            try {
              s.take(tenant, bytes);
              mine.push(bytes);
            } catch {
              // Refused: nothing taken.
            }
          }
          held.set(tenant, mine);
          let total = 0;
          for (const [name, list] of held) {
            const sum = list.reduce((x, y) => x + y, 0);
            expect(s.used(name)).toBe(sum);
            expect(sum).toBeLessThanOrEqual(350);
            total += sum;
          }
          expect(s.pool.used).toBe(total);
        }
      }),
    );
  });
});

describe('stores over StoreShares', () => {
  it('MemoryKvStore gives a replaced or deleted entry back to the tenant it was charged to', async () => {
    const s = shares(1_000_000, 100_000);
    const kv = new MemoryKvStore(s);
    await kv.put('k', 'x'.repeat(1000), 'alice');
    const alice = s.used('alice');
    expect(alice).toBeGreaterThan(2000);
    // Replaced by the host: alice's bytes go back, the new entry is the kernel's.
    await kv.put('k', 'y', undefined);
    expect(s.used('alice')).toBe(0);
    expect(s.pool.used).toBeGreaterThan(0);
    await kv.put('k', 'z'.repeat(1000), 'bob');
    await kv.delete('k');
    expect(s.used('bob')).toBe(0);
    expect(s.pool.used).toBe(0);
  });

  it('MemoryKvStore lets a tenant at its share replace an entry with one of the same size or smaller', async () => {
    const s = shares(1_000_000, 5000);
    const kv = new MemoryKvStore(s);
    await kv.put('k', 'x'.repeat(2000), 'alice');
    await kv.put('j', 'x'.repeat(400), 'alice');
    await kv.put('k', 'y'.repeat(2000), 'alice');
    await kv.put('k', 'y'.repeat(1000), 'alice');
    expect(await kv.get('k')).toBe('y'.repeat(1000));
  });

  it('MemoryKvStore refuses a put past the tenant share and keeps the old value', async () => {
    const s = shares(1_000_000, 5000);
    const kv = new MemoryKvStore(s);
    await kv.put('k', 'small', 'alice');
    await expect(kv.put('k', 'x'.repeat(5000), 'alice')).rejects.toMatchObject({ code: 'E_QUOTA' });
    expect(await kv.get('k')).toBe('small');
  });

  it('MemoryBlobStore charges every put to its tenant, stored content included, but holds it once', async () => {
    const s = shares(1_000_000, 5000);
    const blobs = new MemoryBlobStore(s);
    const bytes = new Uint8Array(3000);
    await blobs.put(bytes, 'alice');
    await blobs.put(bytes, 'bob');
    expect(s.used('alice')).toBe(3064);
    expect(s.used('bob')).toBe(3064);
    // Held once, charged twice: what a put costs never depends on what others stored.
    expect(s.pool.used).toBe(2 * 3064);
    await expect(blobs.put(new Uint8Array(3000).fill(1), 'alice')).rejects.toMatchObject({ code: 'E_QUOTA' });
  });
});
