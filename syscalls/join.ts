import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { KernelError } from '../runtime/core/errors.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/**
 * `sys.join(id, { handle })` → a child's result once it ends. The result carries the child's label: it
 * joins the caller's context, or stays in a handle when asked. A child that failed rejects the join with
 * its code, and its message (which may quote what the child read) raises the context the same way.
 */
export const joinSyscall = defineSyscall({
  name: 'join',
  guest: {
    params: ['id', 'options'],
    type: '(id: string, options?: { handle?: boolean }): Promise<any>',
    doc: "A child's result once it ends; a failed child rejects with its code.",
  },
  args: z.tuple([z.string().min(1).max(64), z.union([z.null(), z.strictObject({ handle: z.boolean().optional() })])]),
  async run(session: AgentSession, [id, options], attempt: Attempt) {
    attempt.describe('agent.join', id, null, session.label);
    attempt.begin();
    const outcome = await session.services.processes.join(session, id);
    const { result, label } = outcome;
    if (result.ok && options?.handle === true) {
      // The outcome (when it came, what keeping the value cost) depends on the child, as a tool's kept result does.
      attempt.raise(label);
      return session.metered(() => session.handles.create(result.value, label));
    }
    outcome.takeLabel();
    if (result.ok) return result.value;
    throw new KernelError(result.error.code, `child ${id}: ${result.error.message}`);
  },
});
