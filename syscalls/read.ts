import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { joinLabels } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** `sys.read(handle)`: the value a handle keeps; the caller's context label rises by the handle's label. */
export const readSyscall = defineSyscall({
  name: 'read',
  guest: {
    params: ['handle'],
    type: '(handle: Handle): Promise<any>',
    doc: "The value a handle stands for; the agent's label rises by the handle's.",
  },
  args: z.tuple([z.unknown()]),
  run(session: AgentSession, [handle], attempt: Attempt) {
    const entry = session.handles.resolve(handle);
    attempt.describe('read', null, null, entry.label);
    attempt.begin();
    session.label = joinLabels(session.label, entry.label);
    return entry.value;
  },
});
