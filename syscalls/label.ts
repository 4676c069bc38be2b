import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** `sys.label()`: the caller's current context label, as a sorted array of tags. */
export const labelSyscall = defineSyscall({
  name: 'label',
  guest: {
    params: [],
    type: '(): Promise<string[]>',
    doc: "The agent's current context label (sorted tags); it only ever rises.",
  },
  args: z.tuple([]),
  run(session: AgentSession, _args, attempt: Attempt) {
    attempt.begin();
    return session.label;
  },
});
