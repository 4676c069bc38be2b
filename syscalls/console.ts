import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';
import { MAX_LOG_CHARS } from './log.js';
import { defineSyscall } from './syscall.js';

export const LOG_LEVELS = ['log', 'info', 'warn', 'error', 'debug'] as const;

/**
 * `console(level, text)`, internal: one line of console output, already formatted by the guest's console
 * (isolates/guest/console.cjs), delivered like `sys.log` (bounded to MAX_LOG_CHARS, a `log` event, audited)
 * with its level. Never the host's console.
 */
export const consoleSyscall = defineSyscall({
  name: 'console',
  guest: {
    params: ['level', 'text'],
    type: "(level: 'log' | 'info' | 'warn' | 'error' | 'debug', text: string): Promise<void>",
    doc: 'One line of console output with its level.',
    internal: true,
  },
  args: z.tuple([z.enum(LOG_LEVELS), z.string()]),
  run(session: AgentSession, [level, text], attempt: Attempt) {
    attempt.describe('console.log', level, null, session.label, false);
    attempt.begin();
    session.services.emit({
      type: 'log',
      agent: session.id,
      text: text.slice(0, MAX_LOG_CHARS),
      level,
      label: session.label,
    });
    return undefined;
  },
});
