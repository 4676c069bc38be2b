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
});
