import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { KernelError } from '../runtime/core/errors.js';
import { jsonWithin } from '../runtime/core/payload-size.js';
import { joinLabels } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';
import { regexpsAsText } from '../runtime/store/snapshot-regexp.js';
import { type SerializedState, serializeState } from '../runtime/store/snapshot-state-encoding.js';
import { decodeSnapshotWire } from './snapshot-wire.js';
import { defineSyscall } from './syscall.js';

/** superjson's wire form, as the guest's copy of superjson produces it: JSON plus type annotations. */
const wireSchema = z.strictObject({
  json: z.unknown(),
  meta: z
    .strictObject({
      values: z.unknown().optional(),
      referentialEqualities: z.unknown().optional(),
      v: z.unknown().optional(),
    })
    .optional(),
});

/**
 * `sys.snapshot(state)` → the content id of the caller's frozen state (see runtime/snapshot-store.ts). The
 * state arrives in superjson's form, which the agent controls, and is rebuilt by the kernel's own checked
 * decoder (snapshot-wire.ts), never by superjson: Dates, Maps, Sets, BigInts and typed arrays survive, and a
 * malformed or oversized encoding is E_BAD_ARG after work bounded by the payload cap.
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
    // Handles stand for values in the JSON only (the annotations are the agent's own text).
    const substituted = session.handles.substitute(wire.json);
    // The state may hold handle data the agent never read: the snapshot's label covers it.
    session.label = joinLabels(session.label, substituted.label);
    // One repeated handle, or one shared subtree, lets a small payload stand for a huge state: the decoder
    // refuses a state larger than the payload cap as it copies it, before building any rich value.
    const decoded = decodeSnapshotWire(
      { json: substituted.value, ...(wire.meta === undefined ? {} : { meta: wire.meta }) },
      session.services.maxPayloadBytes,
    );
    if (!decoded.ok) throw new KernelError('E_BAD_ARG', `sys.snapshot: ${decoded.message}`);
    const state = decoded.value;
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
    return restored === undefined ? null : restoredForm(restored, session.services.maxPayloadBytes);
  },
});

// The superjson form of each restored state, made once, or why it cannot be the reply: a restored agent may call
// sys.restored() at will (review 116: each call of an oversized form encoded it again only to refuse it, 80-94 ms).
const restoredForms = new WeakMap<object, SerializedState | KernelError>();

function restoredForm(state: unknown, maxBytes: number): SerializedState {
  if (typeof state !== 'object' || state === null) return encodeRestored(state, maxBytes);
  let form = restoredForms.get(state);
  if (form === undefined) {
    try {
      form = encodeRestored(state, maxBytes);
      // The reply is the form's JSON after one character (wire.ts `encodeValue`).
      if (!jsonWithin(form, maxBytes - 1).ok) {
        form = new KernelError('E_TOOL_FAILED', 'sys.restored: result exceeds the size cap');
      }
    } catch {
      // Paths longer than the payload cap (serializeState): refused at every call without the work again.
      form = new KernelError('E_BAD_SNAPSHOT', 'sys.restored: the restored state cannot be encoded');
    }
    restoredForms.set(state, form);
  }
  if (form instanceof KernelError) throw form;
  return form;
}

function encodeRestored(state: unknown, maxBytes: number): SerializedState {
  try {
    return serializeState(state, maxBytes);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    // A cycle, which only a snapshot written before the kernel decoded states itself can hold: superjson still
    // writes it, once per placement.
    return regexpsAsText.serialize(state) as SerializedState;
  }
}
