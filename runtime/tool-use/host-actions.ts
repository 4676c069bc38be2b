import { Attempt } from '../audit/attempt.js';
import { MAX_ID_LENGTH, MAX_RESOURCE_LENGTH } from '../audit/record.js';
import { type ErrorCode, isErrorCode, KernelError, observedBy } from '../core/errors.js';
import { EMPTY_LABEL, joinLabels, type Label, makeLabel } from '../labels/label.js';
import type { LabelRules } from '../labels/label-rules.js';
import { createToolContext, type ToolCaller, type ToolEnvironment } from './tool-context.js';
import type { ToolRegistry } from './tool-contract.js';
import { authorizeToolUse, checkSinks, prepareToolUse, runToolUse } from './tool-gate.js';

/**
 * What the host itself does with tools (`kernel.submit`, `kernel.rollback`): the same gate as an agent's call,
 * with the host's identity holding the policy's rules, and every attempt audited as agent `host`.
 */

/** The host's identity in the audit log. */
export const HOST_SUBJECT = { id: 'host', namespace: 'host', parent: null } as const;

/** The kernel parts host tool use needs. */
export interface HostTools {
  readonly tools: ToolRegistry;
  readonly labels: LabelRules;
  readonly env: ToolEnvironment;
  /** The host as a caller: its public key, audit subject and the kernel's abort signal; no quota. */
  readonly caller: ToolCaller;
}

/** `kernel.submit`: the host runs a tool for itself under the policy (the agent_os_kernel workflow). */
export interface SubmitRequest {
  readonly action: string;
  /** The resource, placed in the argument the tool names as its `target`. */
  readonly target?: string;
  readonly params?: Readonly<Record<string, unknown>>;
  /** Tags of the host-supplied data in this call (for example ['email'] for text from an inbox). */
  readonly label?: readonly string[];
}

export interface SubmitResult {
  readonly status: 'OK' | 'DENIED' | 'ERROR';
  readonly data: unknown;
  readonly error: { readonly code: string; readonly message: string } | null;
  /** The seq of the submission's outcome record in the audit log (null if the log failed). */
  readonly recordId: number | null;
  /**
   * The label of `data`: the call's label joined with the tool's source tags. For an error, empty unless the
   * tool tainted the call before failing (its message may quote what it read).
   */
  readonly label: readonly string[];
}

/** `kernel.rollback`: how an undo ended. */
export interface RollbackResult {
  readonly status: 'OK' | 'DENIED' | 'ERROR';
  readonly error: { readonly code: string; readonly message: string } | null;
  /** The seq of the rollback's outcome record in the audit log (null if the log failed). */
  readonly auditSeq: number | null;
  /**
   * The label of the uses that moved the counters its authorization read: allowed or refused, the answer tells of
   * them (review 99: a `max_uses` rule a `secret` submit had spent decided the rollback, and the host learned it
   * clean).
   */
  readonly label: readonly string[];
}

/**
 * Runs the tool that performs `request.action` for the host, under the policy. Never rejects: a refusal is
 * DENIED, anything else ERROR. Throws TypeError when `request.action` is not a string.
 */
export async function submitForHost(host: HostTools, request: SubmitRequest): Promise<SubmitResult> {
  if (request === null || typeof request !== 'object' || typeof request.action !== 'string') {
    throw new TypeError('request.action must be a string');
  }
  const params = request.params ?? {};
  const callLabel = request.label === undefined ? EMPTY_LABEL : makeLabel(request.label, 'request.label');
  const attempt = new Attempt(host.env.audit, HOST_SUBJECT, 'submit', request);
  attempt.describe(recordedAction(request.action), recordedTarget(request.target), params, callLabel);
  const tool = host.tools.forAction(request.action);
  if (tool === undefined) {
    return submitError(attempt, new KernelError('E_NO_TOOL', `no tool performs "${request.action}"`));
  }
  const args =
    request.target !== undefined && tool.target !== undefined ? { ...params, [tool.target]: request.target } : params;
  // What a failure carries: nothing beyond the call's label when the tool never ran; once it ran, its source
  // tags and taints, as a result would (its error may quote what it read, an MCP server's text).
  let failureLabel: Label = EMPTY_LABEL;
  try {
    const use = prepareToolUse(tool, args);
    attempt.describe(
      use.action,
      use.resource,
      use.args,
      joinLabels(callLabel, host.env.vault.resourceLabel(use.resource)),
    );
    attempt.begin();
    checkSinks(host.labels, use, callLabel);
    const decision = authorizeToolUse(host.env.authority, host.caller.holder, use, callLabel);
    // The decision read use counters that agents may have moved (a `secret` agent spending a counted rule the
    // host shares): allowed or refused, the host learns something of them, so the answer carries their label.
    // Dropped, a session of `mcp serve` counted a secret PIN out of the uses left (red-team pass 97).
    const observed = decision.observed ?? EMPTY_LABEL;
    attempt.raise(observed);
    if (!decision.ok) {
      const recordId = attempt.end(decision.code);
      const error = { code: decision.code, message: decision.message };
      return { status: 'DENIED', data: null, error, recordId, label: joinLabels(callLabel, observed) };
    }
    failureLabel = observed;
    attempt.addUsage('tool_calls', 1);
    const prepared = createToolContext(
      host.env,
      host.caller,
      use,
      callLabel,
      (to) => host.labels.sourceTags(tool, to),
      attempt,
    );
    let data: unknown;
    try {
      data = await runToolUse(use, prepared.ctx);
    } catch (error) {
      failureLabel = joinLabels(joinLabels(joinLabels(callLabel, observed), prepared.ctx.sources), prepared.taints());
      attempt.raise(prepared.vaultLabel());
      throw error;
    }
    // A scrubbed secret labels what it was scrubbed from (runtime/tool-use/vault.ts).
    const scrubbed = await prepared.scrub(data);
    attempt.raise(prepared.vaultLabel());
    // Only a caller that ended stops a scrub: the host's signal is the kernel's, aborted when it closes.
    if (scrubbed === undefined) throw new KernelError('E_KILLED', 'the kernel is closing');
    const label = joinLabels(
      joinLabels(joinLabels(joinLabels(callLabel, observed), prepared.ctx.sources), prepared.taints()),
      scrubbed.label,
    );
    return { status: 'OK', data: scrubbed.value, error: null, recordId: attempt.end(null), label };
  } catch (error) {
    const info = error instanceof KernelError ? error : new KernelError('E_INTERNAL', 'internal kernel error');
    const message = host.env.vault.scrub(info.message);
    // A refusal by a bound others' data sized (held memory) tells of that data, as an agent's would.
    const label = joinLabels(joinLabels(failureLabel, observedBy(error)), message.label);
    attempt.raise(label);
    return submitError(attempt, new KernelError(info.code, message.value), label);
  }
}

/**
 * `kernel.recordRefusal`: records a submission the host turned away before submitting it (`mcp serve` refusing a
 * client's call to a tool it does not serve, past its bounds, or malformed) as `submit` records a refusal: an
 * intent and an outcome with `code`, under the request's label. Returns the outcome's seq, or null if the log
 * failed. Throws TypeError when `request.action` is not a string, RangeError when `code` is not a kernel error code.
 */
export function refuseForHost(host: HostTools, request: SubmitRequest, code: ErrorCode): number | null {
  if (request === null || typeof request !== 'object' || typeof request.action !== 'string') {
    throw new TypeError('request.action must be a string');
  }
  if (!isErrorCode(code)) throw new RangeError('code must be one of the kernel error codes');
  const callLabel = request.label === undefined ? EMPTY_LABEL : makeLabel(request.label, 'request.label');
  const attempt = new Attempt(host.env.audit, HOST_SUBJECT, 'submit', request);
  attempt.describe(recordedAction(request.action), recordedTarget(request.target), request.params ?? {}, callLabel);
  return attempt.end(code);
}

// A name or target past the record's bounds (or an empty name) would fail the record itself, and the attempt would
// go unrecorded: what is recorded is cut to fit, the call itself still sees the whole of it.
function recordedAction(action: string): string {
  return action.length === 0 ? '(empty)' : action.slice(0, MAX_ID_LENGTH);
}

function recordedTarget(target: string | undefined): string | null {
  return typeof target === 'string' ? target.slice(0, MAX_RESOURCE_LENGTH) : null;
}

/**
 * Undoes a tool call that saved an undo record (its result carried `recordId`): re-authorizes the undo (the
 * record's action and resource) for the host, audits it, and asks the tool to reverse its effect, which it
 * refuses when the resource changed since (unless `force`). A record is rolled back at most once. Never
 * rejects: a refusal is DENIED, anything else ERROR (an unknown or malformed id is ERROR with E_NOT_FOUND /
 * E_BAD_ARG; the id never reaches the file system).
 */
export async function rollbackForHost(
  host: HostTools,
  recordId: string,
  options: { force?: boolean } = {},
): Promise<RollbackResult> {
  const force = options?.force === true;
  const attempt = new Attempt(host.env.audit, HOST_SUBJECT, 'rollback', { recordId, force });
  attempt.describe('rollback', null, { recordId, force });
  let observed: Label = EMPTY_LABEL;
  const fail = (error: unknown): RollbackResult => {
    const info = error instanceof KernelError ? error : new KernelError('E_TOOL_FAILED', 'rollback failed');
    const status = info.code.startsWith('E_CAP') || info.code === 'E_ESCALATION' ? 'DENIED' : 'ERROR';
    const label = joinLabels(observed, observedBy(error));
    attempt.raise(label);
    return { status, error: { code: info.code, message: info.message }, auditSeq: attempt.end(info.code), label };
  };
  let release: (() => void) | undefined;
  try {
    // Claimed before the record is read, so two concurrent rollbacks cannot both undo it.
    release = host.env.undo.claim(recordId);
    const record = await host.env.undo.get(recordId);
    // The resource is data of the saving call's label: a secret one is kept as a digest, as that call's records were.
    attempt.describe(record.action, record.resource, { recordId, force }, record.label);
    attempt.begin();
    if (record.rolledBackAt !== undefined)
      throw new KernelError('E_NOT_FOUND', `rollback: ${recordId} was already rolled back`);
    const tool = host.tools.get(record.tool);
    if (tool?.undo === undefined) throw new KernelError('E_NO_TOOL', `rollback: no tool "${record.tool}" can undo`);
    const decision = host.env.authority.authorize({
      holder: host.caller.holder,
      action: record.action,
      resource: record.resource,
    });
    observed = decision.observed ?? EMPTY_LABEL;
    attempt.raise(observed);
    if (!decision.ok) throw new KernelError(decision.code, decision.message);
    // Marked before the effect, and unmarked if it fails: marked after, a store too full to keep the mark (the
    // record's tenant can fill its own share) reported an effect that had happened as an error, and left the
    // record to be applied again.
    await host.env.undo.markRolledBack(record);
    try {
      await tool.undo(record.data, {
        signal: host.caller.signal,
        blobs: host.env.blobs,
        labels: host.env.labels,
        force,
        action: record.action,
        resource: record.resource,
        // Whether the resource changed since, and so whether this succeeds, is data of whoever changed it: a
        // `secret` writer's choice to touch a file read as OK or ERROR with label [] (red-team pass 102).
        taint: (tags) => {
          observed = joinLabels(observed, makeLabel(tags, 'tags'));
        },
      });
    } catch (error) {
      await host.env.undo.unmark(record);
      throw error;
    }
    attempt.raise(observed);
    return { status: 'OK', error: null, auditSeq: attempt.end(null), label: observed };
  } catch (error) {
    return fail(error);
  } finally {
    release?.();
  }
}

// A taint refusal is a denial like a capability refusal; anything else that stops a submission is an error.
function submitError(attempt: Attempt, error: KernelError, label: Label = EMPTY_LABEL): SubmitResult {
  const recordId = attempt.end(error.code);
  const status = error.code === 'E_TAINT' ? 'DENIED' : 'ERROR';
  return { status, data: null, error: { code: error.code, message: error.message }, recordId, label };
}
