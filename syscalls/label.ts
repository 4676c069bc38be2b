import { z } from 'zod';
import type { AgentSession } from '../runtime/agent.js';
import type { Attempt } from '../runtime/audit-trail.js';
import { defineSyscall } from './syscall.js';

/** `sys.label()`: the caller's current context label, as a sorted array of tags. */
export const labelSyscall = defineSyscall({
  name: 'label',
  args: z.tuple([]),
  run(session: AgentSession, _args, attempt: Attempt) {
    attempt.begin();
    return session.label;
  },
});
