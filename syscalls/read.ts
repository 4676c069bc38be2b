import { z } from 'zod';
import type { AgentSession } from '../runtime/agent.js';
import type { Attempt } from '../runtime/audit-trail.js';
import { joinLabels } from '../runtime/labels.js';
import { defineSyscall } from './syscall.js';

/** `sys.read(handle)`: the value a handle keeps; the caller's context label rises by the handle's label. */
export const readSyscall = defineSyscall({
  name: 'read',
  args: z.tuple([z.unknown()]),
  run(session: AgentSession, [handle], attempt: Attempt) {
    const entry = session.handles.resolve(handle);
    attempt.describe('read', null, null, entry.label);
    attempt.begin();
    session.label = joinLabels(session.label, entry.label);
    return entry.value;
  },
});
