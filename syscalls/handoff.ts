import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { KernelError } from '../runtime/core/errors.js';
import type { AgentSession } from '../runtime/process/session.js';
import { capRequestsSchema } from './process-schemas.js';
import { defineSyscall } from './syscall.js';

/**
 * `sys.handoff({ to, task, caps })` → the receiver's result. The receiver is a registered program started
 * as the caller's child with a downscoped subset of the caller's capabilities: asking for more than the
 * caller holds fails with E_ESCALATION before anything runs.
 */
export const handoffSyscall = defineSyscall({
  name: 'handoff',
  guest: {
    params: ['request'],
    type: '(request: { to: string; task?: unknown; caps?: CapRequest[] }): Promise<any>',
    doc: 'Runs a registered program as a child holding only the listed attenuations; resolves to its result.',
  },
  args: z.tuple([
    z.strictObject({ to: z.string().min(1).max(64), task: z.unknown().optional(), caps: capRequestsSchema.optional() }),
  ]),
  async run(session: AgentSession, [request], attempt: Attempt) {
    attempt.describe('agent.handoff', request.to, request, session.label);
    attempt.begin();
    const processes = session.services.processes;
    // The decoded task stays in the kernel for the receiver's whole life (the attempt keeps it): it is held
    // against the caller's memory_mb until then (6 handoffs of 1 MiB of nested arrays kept 80 MB, charged 8 KiB each).
    const release = session.holdArguments(request, session.label);
    try {
      const id = processes.spawn(session, {
        program: request.to,
        input: request.task ?? null,
        ...(request.caps === undefined ? {} : { caps: request.caps }),
      });
      // The receiver was charged to `children` when it started, whatever the handoff's outcome (pass 77).
      attempt.addUsage('children', 1);
      const outcome = await processes.join(session, id);
      const { result } = outcome;
      outcome.takeLabel();
      if (result.ok) return result.value;
      throw new KernelError(result.error.code, `handoff to "${request.to}": ${result.error.message}`);
    } finally {
      release();
    }
  },
});
