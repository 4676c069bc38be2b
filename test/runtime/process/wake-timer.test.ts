import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../runtime/core/errors.js';
import { WakeTimer } from '../../../runtime/process/wake-timer.js';

const timeouts = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('WakeTimer: one host timer per agent', () => {
  it('fires once after the delay', async () => {
    const timer = new WakeTimer();
    const started = performance.now();
    await expect(timer.arm(20)).resolves.toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
    expect(timer.pending).toBe(false);
  });

  it('a newer wake supersedes the pending one, which answers false at once; only one host timer exists', async () => {
    const before = timeouts();
    const timer = new WakeTimer();
    const first = timer.arm(10_000);
    const second = timer.arm(10_000);
    const third = timer.arm(5);
    expect(timeouts() - before).toBe(1);
    await expect(first).resolves.toBe(false);
    await expect(second).resolves.toBe(false);
    await expect(third).resolves.toBe(true);
    expect(timeouts() - before).toBe(0);
  });

  it('cancel rejects the pending wake with E_KILLED, clears the host timer, and refuses later wakes', async () => {
    const before = timeouts();
    const timer = new WakeTimer();
    const pending = timer.arm(60_000);
    timer.cancel();
    await expect(pending).rejects.toMatchObject({ code: 'E_KILLED' });
    expect(timeouts() - before).toBe(0);
    await expect(timer.arm(1)).rejects.toBeInstanceOf(KernelError);
    timer.cancel();
    expect(timer.pending).toBe(false);
  });
});
