import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { KernelError } from '../runtime/core/errors.js';
import type { HandleEntry, HandlePlace, HandleRef } from '../runtime/labels/handles.js';
import { isTag, joinLabels, type Label, labelLeq, makeLabel, removeTags } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** The capability action that lowers a label; its resource is the tag removed. */
export const DECLASSIFY_ACTION = 'label.declassify';

/**
 * `sys.declassify(handle, tags)`: a new handle for the same value without `tags`, only if the caller holds a
 * `label.declassify` capability for every tag it names, whether the handle carries it or not (each use is debited
 * and audited). Nothing else lowers a label; the old handle keeps its label. Deciding by the tags actually removed
 * made the call an oracle on an unread handle's label: refused exactly when the handle carried a tag, with the
 * caller's label unchanged; and which memory keys a labelled agent had overwritten spelled a page, a bit per key
 * (red-team pass 55).
 */
export const declassifySyscall = defineSyscall({
  name: 'declassify',
  guest: {
    params: ['handle', 'tags'],
    type: '(handle: Handle, tags: string[]): Promise<Handle>',
    doc: 'A new handle without `tags`; needs a `label.declassify` capability for each tag named.',
  },
  args: z.tuple([z.unknown(), z.array(z.string().refine(isTag, 'not a tag')).min(1).max(64)]),
  run(session: AgentSession, [handle, tags], attempt: Attempt) {
    const entry = session.handles.resolve(handle);
    const named = makeLabel(tags);
    // Tags the handle or the caller carries are kernel vocabulary (labels come from the policy, the tools and the
    // host, never from an agent), kept in clear. Any other is the agent's own text, any tag-shaped string, stored
    // as a digest under `secret` like any resource (red-team pass 83: a refused `['pin4711']` put a PIN in the log).
    const known = named.every((tag) => entry.label.includes(tag) || session.label.includes(tag));
    attempt.describe(DECLASSIFY_ACTION, named.join(','), { tags }, entry.label, !known);
    attempt.begin();
    // The new handle's place is kept before any use is debited: a full table refuses here, not after spending them.
    const place = session.handles.reserve();
    try {
      return declassify(session, entry, named, place);
    } finally {
      place.release();
    }
  },
});

function declassify(session: AgentSession, entry: HandleEntry, named: Label, place: HandlePlace): HandleRef {
  for (const tag of named) {
    const decision = session.services.authority.authorize({
      holder: session.publicKey,
      label: session.label,
      action: DECLASSIFY_ACTION,
      resource: tag,
    });
    if (decision.observed !== undefined) session.label = joinLabels(session.label, decision.observed);
    if (!decision.ok) throw new KernelError(decision.code, decision.message);
  }
  const label = removeTags(entry.label, named);
  if (!labelLeq(label, entry.label)) throw new KernelError('E_INTERNAL', 'internal kernel error');
  return session.handles.create(entry.value, label, place);
}
