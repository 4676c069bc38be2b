import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** `sys.caps()`: the capabilities the caller holds (ids, action, resource, remaining uses, expiry). */
export const capsSyscall = defineSyscall({
  name: 'caps',
  guest: {
    params: [],
    type: '(): Promise<CapabilityInfo[]>',
    doc: 'The capabilities the agent holds (never token bytes).',
  },
  args: z.tuple([]),
  run(session: AgentSession, _args, attempt: Attempt) {
    attempt.begin();
    return session.services.authority.list(session.publicKey);
  },
});
