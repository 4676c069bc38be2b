import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** Longest delay a guest timer may ask for (the WHATWG timers' 32-bit bound, ~24.8 days). */
export const MAX_WAKE_MS = 2 ** 31 - 1;

/**
 * `wake(delayMs)`, internal: the guest's timer queue (setTimeout, setInterval) asks the kernel to wake it
 * after `delayMs`, at its earliest deadline. Answered late: `true` when the agent's one host timer fired,
 * `false` at once when a newer wake superseded this one (runtime/process/wake-timer.ts). The wait is wall
 * time like any other, so it counts against `wall_ms`; a wake beyond the agent's remaining wall time is
 * held only until the wall limit ends the agent (E_QUOTA). The host timer dies with the agent.
 */
export const wakeSyscall = defineSyscall({
  name: 'wake',
  guest: {
    params: ['delayMs'],
    type: '(delayMs: number): Promise<boolean>',
    doc: "Wakes the guest's timer queue after delayMs; a newer wake supersedes this one.",
    internal: true,
  },
  args: z.tuple([z.number().min(0).max(MAX_WAKE_MS)]),
  run(session: AgentSession, [delayMs], attempt: Attempt) {
    attempt.describe('timer.wake', null, [delayMs], session.label, false);
    attempt.begin();
    // No point in a host timer past the wall limit: the watchdog ends the agent first.
    const remaining = session.quota?.remaining('wall_ms') ?? delayMs;
    return session.wake.arm(Math.min(delayMs, Math.ceil(remaining) + 10));
  },
});
