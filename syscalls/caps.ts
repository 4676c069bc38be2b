import { z } from 'zod';
import type { AgentSession } from '../runtime/agent.js';
import type { Attempt } from '../runtime/audit-trail.js';
import { defineSyscall } from './syscall.js';

/** `sys.caps()`: the capabilities the caller holds (ids, action, resource, remaining uses, expiry). */
export const capsSyscall = defineSyscall({
  name: 'caps',
  args: z.tuple([]),
  run(session: AgentSession, _args, attempt: Attempt) {
    attempt.begin();
    return session.services.authority.list(session.publicKey);
  },
});
