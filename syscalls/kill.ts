import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** `sys.kill(id)`: ends a descendant of the caller and everything below it. */
export const killSyscall = defineSyscall({
  name: 'kill',
  guest: {
    params: ['id'],
    type: '(id: string): Promise<void>',
    doc: 'Ends a descendant and everything below it.',
  },
  args: z.tuple([z.string().min(1).max(64)]),
  run(session: AgentSession, [id], attempt: Attempt) {
    attempt.describe('agent.kill', id, null, session.label);
    attempt.begin();
    session.services.processes.kill(session, id);
    return undefined;
  },
});
