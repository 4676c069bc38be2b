import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { joinLabels } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/**
 * `sys.caps()`: the capabilities the caller holds (ids, action, resource, remaining uses, expiry). Remaining
 * uses are counters other agents may have moved (a labelled child spending a delegated capability): reading
 * them raises the caller's label by the labels of those uses.
 */
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
    const { authority } = session.services;
    const held = authority.list(session.publicKey);
    const counted = held.filter((summary) => summary.remainingUses !== null).map((summary) => summary.id);
    if (counted.length > 0) session.label = joinLabels(session.label, authority.observedLabel(counted));
    return held;
  },
});
