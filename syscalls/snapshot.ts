import { z } from 'zod';
import type { AgentSession } from '../runtime/agent.js';
import type { Attempt } from '../runtime/audit-trail.js';
import { joinLabels } from '../runtime/labels.js';
import { defineSyscall } from './syscall.js';

/** `sys.snapshot(state)` → the content id of the caller's frozen state (see runtime/snapshot-store.ts). */
export const snapshotSyscall = defineSyscall({
  name: 'snapshot',
  args: z.tuple([z.unknown()]),
  async run(session: AgentSession, [state], attempt: Attempt) {
    const substituted = session.handles.substitute(state);
    // The state may hold handle data the agent never read: the snapshot's label covers it.
    session.label = joinLabels(session.label, substituted.label);
    attempt.describe('agent.snapshot', null, null, session.label);
    attempt.begin();
    return await session.services.processes.snapshot(session, substituted.value ?? null);
  },
});

/** `sys.restored()` → the state a restored agent was frozen with; undefined for an agent never snapshotted. */
export const restoredSyscall = defineSyscall({
  name: 'restored',
  args: z.tuple([]),
  run(session: AgentSession, _args, attempt: Attempt) {
    attempt.begin();
    return session.placement.restored;
  },
});
