import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/**
 * `sys.audit({ after, limit })` → audit records of the caller's namespace and its mounts', oldest first. The
 * caller's context rises by the label of every record returned (records are data of the agents that made them).
 */
export const auditSyscall = defineSyscall({
  name: 'audit',
  guest: {
    params: ['options'],
    type: '(options?: { after?: number; limit?: number }): Promise<AuditRecord[]>',
    doc: "Audit records of the agent's own namespace and its whole-namespace mounts.",
  },
  args: z.tuple([
    z.union([
      z.null(),
      z.strictObject({ after: z.int().min(-1).optional(), limit: z.int().min(1).max(1000).optional() }),
    ]),
  ]),
  run(session: AgentSession, [options], attempt: Attempt) {
    attempt.begin();
    return session.services.processes.auditRecords(session, {
      ...(options?.after === undefined ? {} : { after: options.after }),
      limit: options?.limit ?? 100,
    });
  },
});
