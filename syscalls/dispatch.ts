import { Attempt, type AuditSubject } from '../runtime/audit/attempt.js';
import { describeIssue } from '../runtime/core/describe-issue.js';
import { type ErrorCode, observedBy, toErrorInfo } from '../runtime/core/errors.js';
import { fitsBytes } from '../runtime/core/payload-size.js';
import { joinLabels, type Label } from '../runtime/labels/label.js';
import type { AgentSession, AgentState, KernelServices } from '../runtime/process/session.js';
import type { Syscall } from './syscall.js';
import { SYSCALLS } from './table.js';
import { decodePayload, encodeError, encodeValue } from './wire.js';

/**
 * The single entry from the boundary into the kernel: decodes, validates and runs one syscall for
 * `session` and returns the reply string (see wire.ts), or a promise of it. Never throws
 * and never rejects. Every attempt, refused, malformed or after the agent ended, is counted, audited
 * (intent before the effect, outcome after) and reported as an event. Every attempt of a live agent
 * counts against its `syscalls` budget, and the kernel's own time on it is charged to its `cpu_ms`: one
 * clock read at the end, against the one the audit attempt took at the start (and, for a reply that comes
 * later, one pair around the work done when it settles). `uniqueKeys`: the payload's text was written by a sandbox
 * host, not the prelude in this process, so it may not name a key twice (wire.ts).
 */
export function dispatch(
  session: AgentSession,
  name: unknown,
  payload: unknown,
  uniqueKeys = false,
): string | Promise<string> {
  const { syscall, label, oversized, attempt } = open(session, name, payload);
  if (session.state === 'ended') return refuseEnded(session, attempt, label);
  const reply =
    payload === UNENCODABLE
      ? refuseUnencodable(session, syscall, label, attempt)
      : oversized
        ? refuseOversized(session, syscall, label, attempt)
        : decide(session, syscall, label, attempt, payload, uniqueKeys);
  // The time may depend on what the call depended on without the caller reading it (a handle's value).
  session.worked(attempt.label);
  session.chargeKernelTime(performance.now() - attempt.startedAt);
  return reply;
}

/**
 * What refusing and auditing a syscall needs of its caller: all a sandbox host keeps of an agent that ended there
 * (`EndedAgent`), where it kept the whole session (5 KB more an agent, left open by review 138: one run's 1,000 children kept
 * 5 MB more in the kernel, uncharged, while their host lived, and an agent may spawn 100,000).
 */
export interface Caller {
  readonly id: string;
  readonly subject: AuditSubject;
  readonly services: Pick<KernelServices, 'audit' | 'maxPayloadBytes' | 'emit'>;
  readonly state: AgentState;
  readonly label: Label;
  syscalls: number;
}

/** An ended agent, as a sandbox host keeps it to refuse its late syscalls: see `Caller`. */
export class EndedAgent implements Caller {
  readonly id: string;
  readonly subject: AuditSubject;
  readonly services: Caller['services'];
  readonly state = 'ended';
  /** Its label when it ended: results that settle later reach nobody, so nothing it sends depends on them. */
  readonly label: Label;
  readonly limits: { readonly syscalls: number };
  syscalls: number;

  constructor(session: AgentSession) {
    if (session.state !== 'ended') throw new TypeError('session must have ended');
    this.id = session.id;
    this.subject = session.subject;
    this.services = session.services;
    this.label = session.label;
    this.limits = { syscalls: session.limits.syscalls };
    this.syscalls = session.syscalls;
  }
}

/** `dispatch` for an agent that has ended: counted, audited and refused with E_KILLED. Never throws. */
export function dispatchEnded(caller: EndedAgent, name: unknown, payload: unknown): string {
  const { label, attempt } = open(caller, name, payload);
  return refuseEnded(caller, attempt, label);
}

/**
 * The payload of a call whose arguments the guest could not encode (a BigInt, a cycle, a getter that throws): the
 * prelude sends the attempt with this length, which no encoded payload has, so it is counted and recorded.
 */
export const UNENCODABLE = 0;

// Counts the attempt and opens its audit record, before anything about the call is checked.
function open(caller: Caller, name: unknown, payload: unknown) {
  caller.syscalls++;
  const syscall = typeof name === 'string' ? SYSCALLS.get(name) : undefined;
  const label = syscall?.name ?? 'unknown';
  // A payload past the cap arrives as its length (the prelude and sandbox hosts never carry it whole). One that
  // came whole anyway is recorded by its length too: digesting it for the refusal's record cost about three times
  // its size in the kernel's heap (red-team pass 96).
  const max = caller.services.maxPayloadBytes;
  const oversized = typeof payload === 'number' || (typeof payload === 'string' && payload.length > max);
  const described =
    payload === UNENCODABLE
      ? { unencodable: true }
      : oversized
        ? { oversized: typeof payload === 'number' ? payload : payload.length }
        : payload;
  const attempt = new Attempt(caller.services.audit, caller.subject, label, described);
  // Every record of the attempt carries at least the caller's context: the record (its arguments' digest, its
  // very existence and place in the log) is data of an agent that may have read labelled data, and other
  // agents read records (`sys.audit`). A syscall that names its own label later replaces this one.
  attempt.describe(label, null, described, caller.label);
  return { syscall, label, oversized, attempt };
}

function refuseEnded(caller: Caller, attempt: Attempt, label: string): string {
  return refuse(caller, attempt, label, 'E_KILLED', `sys.${label}: the agent has ended`, true);
}

// In the order `decide` checks: the syscall budget and the name come before the payload.
function refuseUnencodable(
  session: AgentSession,
  syscall: Syscall | undefined,
  label: string,
  attempt: Attempt,
): string {
  if (!session.countSyscall()) return refuse(session, attempt, label, 'E_QUOTA', 'quota exceeded: syscalls');
  if (syscall === undefined) return refuse(session, attempt, label, 'E_BAD_ARG', 'unknown syscall');
  return refuse(session, attempt, label, 'E_BAD_ARG', `sys.${label}: arguments must be JSON-serializable`);
}

function refuseOversized(session: AgentSession, syscall: Syscall | undefined, label: string, attempt: Attempt): string {
  if (!session.countSyscall()) return refuse(session, attempt, label, 'E_QUOTA', 'quota exceeded: syscalls');
  if (syscall === undefined) return refuse(session, attempt, label, 'E_BAD_ARG', 'unknown syscall');
  const max = session.services.maxPayloadBytes;
  return refuse(session, attempt, label, 'E_BAD_ARG', `sys.${label}: payload exceeds ${max} bytes`);
}

function decide(
  session: AgentSession,
  syscall: Syscall | undefined,
  label: string,
  attempt: Attempt,
  payload: unknown,
  uniqueKeys: boolean,
): string | Promise<string> {
  if (!session.countSyscall()) return refuse(session, attempt, label, 'E_QUOTA', 'quota exceeded: syscalls');
  if (syscall === undefined) return refuse(session, attempt, label, 'E_BAD_ARG', 'unknown syscall');
  const decoded = decodePayload(payload, session.services.maxPayloadBytes, uniqueKeys);
  if (!decoded.ok) return refuse(session, attempt, label, 'E_BAD_ARG', `sys.${label}: ${decoded.message}`);
  const args = syscall.args.safeParse(decoded.value);
  if (!args.success) {
    return refuse(session, attempt, label, 'E_BAD_ARG', `sys.${label}: ${describeIssue(args.error)}`);
  }
  attempt.describe(label, null, args.data, session.label);
  let value: unknown;
  try {
    value = syscall.run(session, args.data, attempt);
  } catch (error) {
    return failed(session, attempt, syscall, error);
  }
  if (isThenable(value)) {
    // Until it settles, the call (and then its reply) lives in the kernel: held against the agent's memory.
    const release = session.holdPending();
    const reply = Promise.resolve(value).then(
      (settled) => charged(session, attempt, release, () => succeeded(session, attempt, syscall, settled)),
      (error) => charged(session, attempt, release, () => failed(session, attempt, syscall, error)),
    );
    session.services.calls.add(reply);
    return reply;
  }
  return succeeded(session, attempt, syscall, value);
}

// The work done when a late reply settles (encoding it, the outcome record) is the kernel's time too; once
// the reply is built, it is the sandbox's to deliver and the pending call's memory is given back.
function charged(session: AgentSession, attempt: Attempt, release: () => void, finish: () => string): string {
  const resumed = performance.now();
  const reply = finish();
  session.worked(attempt.label);
  session.chargeKernelTime(performance.now() - resumed);
  release();
  return reply;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}

function succeeded(session: AgentSession, attempt: Attempt, syscall: Syscall, value: unknown): string {
  // The effect happened (the outcome says ok), but an ended agent is delivered nothing: encoding its reply was
  // kernel time for no one (red-team pass 82: hundreds of 900 KB join replies encoded after the caller ended).
  if (session.state === 'ended') {
    return recordSuccess(
      session,
      attempt,
      syscall,
      encodeError('E_KILLED', `sys.${syscall.name}: the agent has ended`),
    );
  }
  let reply: string;
  try {
    reply = encodeValue(value);
  } catch {
    return refuse(
      session,
      attempt,
      syscall.name,
      'E_TOOL_FAILED',
      `sys.${syscall.name}: result is not JSON-serializable`,
    );
  }
  if (!fitsBytes(reply, session.services.maxPayloadBytes)) {
    return refuse(session, attempt, syscall.name, 'E_TOOL_FAILED', `sys.${syscall.name}: result exceeds the size cap`);
  }
  return recordSuccess(session, attempt, syscall, reply);
}

function recordSuccess(session: AgentSession, attempt: Attempt, syscall: Syscall, reply: string): string {
  // The outcome is the caller's data as it stands after the call: what the effect told it raised its label
  // (pass 77: a tool whose result carried `secret` recorded ok or not at the call's earlier label, and a clean
  // reader of the log took the PIN from which guess was ok).
  attempt.raise(session.label);
  attempt.end(null, syscall.charge);
  session.services.emit({
    type: 'syscall',
    agent: session.id,
    syscall: syscall.name,
    code: null,
    refused: false,
    label: session.label,
  });
  return reply;
}

function failed(session: AgentSession, attempt: Attempt, syscall: Syscall, error: unknown): string {
  const observed = observedBy(error);
  if (observed.length > 0) {
    session.label = joinLabels(session.label, observed);
    attempt.raise(observed);
  }
  const info = toErrorInfo(error);
  return refuse(session, attempt, syscall.name, info.code, info.message);
}

function refuse(
  session: Caller,
  attempt: Attempt,
  syscall: string,
  code: ErrorCode,
  message: string,
  refused = false,
): string {
  attempt.raise(session.label);
  attempt.end(code, undefined, refused || session.state === 'ended');
  session.services.emit({ type: 'syscall', agent: session.id, syscall, code, refused, label: session.label });
  return encodeError(code, message);
}
