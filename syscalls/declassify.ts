import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { KernelError } from '../runtime/core/errors.js';
import { isTag, joinLabels, labelLeq, makeLabel, removeTags } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** The capability action that lowers a label; its resource is the tag removed. */
export const DECLASSIFY_ACTION = 'label.declassify';

/**
 * `sys.declassify(handle, tags)`: a new handle for the same value without `tags`, only if the caller holds a
 * `label.declassify` capability for every tag actually removed (each use is debited and audited). Nothing else
 * lowers a label; the old handle keeps its label.
 */
export const declassifySyscall = defineSyscall({
  name: 'declassify',
  guest: {
    params: ['handle', 'tags'],
    type: '(handle: Handle, tags: string[]): Promise<Handle>',
    doc: 'A new handle without `tags`; needs a `label.declassify` capability for each tag.',
  },
  args: z.tuple([z.unknown(), z.array(z.string().refine(isTag, 'not a tag')).min(1).max(64)]),
  run(session: AgentSession, [handle, tags], attempt: Attempt) {
    const entry = session.handles.resolve(handle);
    const removed = makeLabel(tags.filter((tag) => entry.label.includes(tag)));
    attempt.describe(DECLASSIFY_ACTION, removed.join(',') || null, { tags }, entry.label, false);
    attempt.begin();
    for (const tag of removed) {
      const decision = session.services.authority.authorize({
        holder: session.publicKey,
        label: session.label,
        action: DECLASSIFY_ACTION,
        resource: tag,
      });
      if (decision.observed !== undefined) session.label = joinLabels(session.label, decision.observed);
      if (!decision.ok) throw new KernelError(decision.code, decision.message);
    }
    const label = removeTags(entry.label, removed);
    if (!labelLeq(label, entry.label)) throw new KernelError('E_INTERNAL', 'internal kernel error');
    return session.handles.create(entry.value, label);
  },
});
