import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { ChildRequest } from '../runtime/process/process-control.js';
import type { AgentSession } from '../runtime/process/session.js';
import { childRequestSchema } from './process-schemas.js';
import { defineSyscall } from './syscall.js';

/**
 * `sys.spawn({ program | code, input, caps, budget, namespace, mounts })` → the child's id. The child gets
 * no capability implicitly: only delegated attenuations of the caller's, and a budget carved out of the
 * caller's remainder. Inline `code` needs a capability for `agent.spawn`.
 */
export const spawnSyscall = defineSyscall({
  name: 'spawn',
  guest: {
    params: ['request'],
    type: '(request: SpawnRequest): Promise<string>',
    doc: 'Starts a child agent; resolves to its id.',
  },
  charge: { children: 1 },
  args: z.tuple([childRequestSchema]),
  run(session: AgentSession, [request], attempt: Attempt) {
    const what = request.program ?? 'inline code';
    // A program name is the agent's own text (a secret-labelled agent can spell its secret in it), as ids in
    // join and kill are: stored as a digest under `secret`, like any resource.
    attempt.describe('agent.spawn', what, request, session.label, request.program !== undefined);
    attempt.begin();
    return session.services.processes.spawn(session, request as ChildRequest);
  },
});
