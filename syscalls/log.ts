import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** Longest log line kept; the rest is cut so an agent cannot flood the host's logs. */
export const MAX_LOG_CHARS = 4096;

/** `sys.log(...values)`: a bounded line in the kernel's log stream. */
export const logSyscall = defineSyscall({
  name: 'log',
  guest: {
    params: ['...values'],
    type: '(...values: unknown[]): Promise<void>',
    doc: 'A bounded log line, recorded in the audit log and delivered to the host.',
  },
  args: z.array(z.unknown()).max(64),
  run(session: AgentSession, values, attempt: Attempt) {
    attempt.begin();
    const text = values
      .map((value) => (typeof value === 'string' ? value : JSON.stringify(value)))
      .join(' ')
      .slice(0, MAX_LOG_CHARS);
    session.services.emit({ type: 'log', agent: session.id, text, label: session.label });
    return undefined;
  },
});
