import { decodePayload, encodeError, encodeValue } from '../isolates/boundary.js';
import type { AgentSession } from '../runtime/agent.js';
import { describeIssue } from '../runtime/describe-issue.js';
import { type ErrorCode, toErrorInfo } from '../runtime/errors.js';
import type { Syscall } from './syscall.js';
import { SYSCALLS } from './table.js';

/**
 * The single entry from the boundary into the kernel: decodes, validates and runs one syscall for
 * `session` and returns the reply string (see isolates/boundary.ts), or a promise of it. Never throws
 * and never rejects; every attempt, refused or not, is counted and reported as an event.
 */
export function dispatch(session: AgentSession, name: unknown, payload: unknown): string | Promise<string> {
  session.syscalls++;
  const syscall = typeof name === 'string' ? SYSCALLS.get(name) : undefined;
  if (session.state === 'ended') {
    const label = syscall?.name ?? 'unknown';
    return refuse(session, label, 'E_KILLED', `sys.${label}: the agent has ended`, true);
  }
  if (syscall === undefined) return refuse(session, 'unknown', 'E_BAD_ARG', 'unknown syscall', false);
  const decoded = decodePayload(payload, session.services.maxPayloadBytes);
  if (!decoded.ok) return refuse(session, syscall.name, 'E_BAD_ARG', `sys.${syscall.name}: ${decoded.message}`, false);
  const args = syscall.args.safeParse(decoded.value);
  if (!args.success) {
    return refuse(session, syscall.name, 'E_BAD_ARG', `sys.${syscall.name}: ${describeIssue(args.error)}`, false);
  }
  let value: unknown;
  try {
    value = syscall.run(session, args.data);
  } catch (error) {
    return failed(session, syscall, error);
  }
  if (isThenable(value)) {
    return Promise.resolve(value).then(
      (settled) => succeeded(session, syscall, settled),
      (error) => failed(session, syscall, error),
    );
  }
  return succeeded(session, syscall, value);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}

function succeeded(session: AgentSession, syscall: Syscall, value: unknown): string {
  let reply: string;
  try {
    reply = encodeValue(value);
  } catch {
    return refuse(
      session,
      syscall.name,
      'E_TOOL_FAILED',
      `sys.${syscall.name}: result is not JSON-serializable`,
      false,
    );
  }
  if (reply.length > session.services.maxPayloadBytes) {
    return refuse(session, syscall.name, 'E_TOOL_FAILED', `sys.${syscall.name}: result exceeds the size cap`, false);
  }
  session.services.emit({ type: 'syscall', agent: session.id, syscall: syscall.name, code: null, refused: false });
  return reply;
}

function failed(session: AgentSession, syscall: Syscall, error: unknown): string {
  const info = toErrorInfo(error);
  return refuse(session, syscall.name, info.code, info.message, false);
}

function refuse(session: AgentSession, syscall: string, code: ErrorCode, message: string, refused: boolean): string {
  session.services.emit({ type: 'syscall', agent: session.id, syscall, code, refused });
  return encodeError(code, message);
}
