import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Kernel } from '../../index.js';
import * as libraries from '../../isolates/guest-libraries.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack: make the kernel re-send a guest library on every read of a global. A lazy global's part is fetched with
 * a request that is not a syscall (uncounted, unaudited, not charged), and a part whose factory threw (its code
 * uses a built-in the agent deleted) was asked for again at the next read: 200 reads of `URL` made the host
 * encode its ~340 KB source 200 times, 717 ms of the kernel's main thread against 59 ms (red-team pass 96). Now the
 * prelude keeps each part's factory once evaluated, and the host encodes each part once.
 */
vi.mock('../../isolates/guest-libraries.js', async (original) => {
  const actual = await original<typeof libraries>();
  return { ...actual, libraryReply: vi.fn(actual.libraryReply) };
});

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe('a lazy global whose library fails to load', () => {
  it('is asked of the host once per agent, however often it is read', async () => {
    kernel = testKernel({ isolation: 'inline' });
    const asks = vi.mocked(libraries.libraryReply);
    asks.mockClear();
    const result = await kernel.run({
      code: `export default async () => {
        delete globalThis.Object;
        let failed = 0;
        for (let i = 0; i < 50; i++) { try { URL; } catch { failed++; } }
        return failed;
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 50 });
    expect(asks.mock.calls.length).toBeGreaterThan(0);
    expect(asks.mock.calls.length).toBeLessThanOrEqual(3);
  });

  it('is asked once even when it is read only where its evaluation overflows the stack', async () => {
    // Review 99: recursing to the stack's end and reading `URL` only in the deepest k frames, for k = 1, 6, 11, …, left
    // room for the ask but not for evaluating ~380 KB of source, so the part never loaded and every pass asked
    // again (1,394 asks, 534 MB sent, before the agent's memory ran out; about 340 here before, 2 now).
    kernel = testKernel({ isolation: 'inline', limits: { cpu_ms: 10_000, wall_ms: 30_000, memory_mb: 256 } });
    const asks = vi.mocked(libraries.libraryReply);
    asks.mockClear();
    const result = await kernel.run({
      code: `export default () => {
        let done = false;
        for (let k = 1; k <= 30_000 && !done; k += 5) {
          let i = 0;
          const deep = () => {
            try { deep(); } catch {}
            const mine = i++;
            if (done || mine >= k) return;
            try { void URL; done = true; } catch {}
          };
          deep();
        }
        return done;
      }`,
    });
    // The agent pays for evaluating the kept source again on each failing pass, and may run out of cpu_ms first.
    expect(result.ok || result.error.code === 'E_QUOTA').toBe(true);
    expect(asks.mock.calls.length).toBeGreaterThan(0);
    expect(asks.mock.calls.length).toBeLessThanOrEqual(3);
  });
});
