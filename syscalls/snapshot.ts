import superjson from 'superjson';
import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { KernelError } from '../runtime/core/errors.js';
import { expandedSizeExceeds } from '../runtime/core/payload-size.js';
import { joinLabels } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** superjson's wire form, as the guest's copy of superjson produces it: JSON plus type annotations. */
const wireSchema = z.strictObject({ json: z.unknown(), meta: z.record(z.string(), z.unknown()).optional() });

/**
 * `sys.snapshot(state)` → the content id of the caller's frozen state (see runtime/snapshot-store.ts). The
 * state arrives in superjson's form and is rebuilt here with the host's own superjson, so Dates, Maps, Sets
 * and BigInts survive; a malformed encoding is E_BAD_ARG.
 */
export const snapshotSyscall = defineSyscall({
  name: 'snapshot',
  guest: {
    params: ['state'],
    type: '(state: unknown): Promise<string>',
    doc: "Freezes the agent's state; resolves to its content id (SHA-256).",
    encoding: 'superjson-argument',
  },
  args: z.tuple([wireSchema]),
  async run(session: AgentSession, [wire], attempt: Attempt) {
    const substituted = session.handles.substitute(wire);
    // The state may hold handle data the agent never read: the snapshot's label covers it.
    session.label = joinLabels(session.label, substituted.label);
    let state: unknown;
    try {
      state = superjson.deserialize(substituted.value as Parameters<typeof superjson.deserialize>[0]);
    } catch {
      throw new KernelError('E_BAD_ARG', 'sys.snapshot: the state is not a valid superjson encoding');
    }
    // Handles and superjson's referential equalities both let a small payload stand for a huge state (one
    // repeated reference per level doubles it): the state as it will be encoded must fit the payload cap.
    if (expandedSizeExceeds(state, session.services.maxPayloadBytes)) {
      throw new KernelError('E_BAD_ARG', 'sys.snapshot: the state exceeds the payload cap once expanded');
    }
    attempt.describe('agent.snapshot', null, null, session.label);
    attempt.begin();
    return await session.services.processes.snapshot(session, state);
  },
});

/** `sys.restored()` → the state a restored agent was frozen with (superjson's form); null when not restored. */
export const restoredSyscall = defineSyscall({
  name: 'restored',
  guest: {
    params: [],
    type: '(): Promise<unknown>',
    doc: 'The state a restored agent was frozen with; undefined when not restored.',
    encoding: 'superjson-result',
  },
  args: z.tuple([]),
  run(session: AgentSession, _args, attempt: Attempt) {
    attempt.begin();
    const { restored } = session.placement;
    return restored === undefined ? null : superjson.serialize(restored);
  },
});
