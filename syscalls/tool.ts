import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { KernelError, observedBy, toErrorInfo } from '../runtime/core/errors.js';
import { jsonBytesUpTo } from '../runtime/core/payload-size.js';
import type { HandlePlace, Substituted } from '../runtime/labels/handles.js';
import { EMPTY_LABEL, joinLabels, type Label, labelLeq } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';
import { createToolContext, type PreparedContext } from '../runtime/tool-use/tool-context.js';
import { authorizeToolUse, checkSinks, prepareToolUse, runToolUse } from '../runtime/tool-use/tool-gate.js';
import type { VaultScrubbed } from '../runtime/tool-use/vault.js';
import { defineSyscall } from './syscall.js';

const noop = (): void => {};

// The substituted arguments' JSON is at most the payload cap plus one length of each handle they name, both
// measured exactly in UTF-8 bytes. Bounded walks: an amplified value is refused after measuring the allowance, never
// all of it. A value a getter makes unmeasurable does not fit.
function withinAllowance(session: AgentSession, substituted: Substituted): boolean {
  try {
    let allowance = session.services.maxPayloadBytes;
    for (const entry of substituted.handles) allowance += session.handles.jsonLength(entry);
    return jsonBytesUpTo(substituted.value, allowance) <= allowance;
  } catch {
    return false;
  }
}

/** `sys.tool(name, args, options)`: runs a registered tool for the calling agent, if its capabilities allow. */
export const toolSyscall = defineSyscall({
  name: 'tool',
  guest: {
    params: ['name', 'args', 'options'],
    type: '(name: string, args?: unknown, options?: { handle?: boolean }): Promise<any>',
    doc: 'Calls a registered tool; with `{ handle: true }` the result stays in the kernel as an opaque handle.',
  },
  args: z.tuple([
    z.string().min(1).max(64),
    z.unknown(),
    z.union([z.null(), z.strictObject({ handle: z.boolean().optional() })]),
  ]),
  run(session: AgentSession, [name, args, options], attempt: Attempt) {
    const tool = session.services.tools.get(name);
    if (tool === undefined) throw new KernelError('E_NO_TOOL', `sys.tool: no tool named "${name}"`);
    const { vault } = session.services.toolEnv;
    const substituted = session.handles.substitute(args ?? undefined);
    // One handle named a thousand times stands for a thousand copies: what the tool, the audit digest and the
    // vault check walk is the substituted value. Unbounded, one model.chat with 450 copies of a 1 MB handle grew
    // the kernel by 10 GB and stalled its event loop for 19 s (red-team pass 52). A tool may take a large handle
    // (that is what handles are for), so the bound is the payload cap plus each handle named counted once: work in
    // proportion to what the agent sent and holds. Whether it fits depends on the handles' sizes: a refusal
    // carries their label.
    if (substituted.value !== args && !withinAllowance(session, substituted)) {
      session.label = joinLabels(session.label, substituted.label);
      attempt.raise(substituted.label);
      throw new KernelError(
        'E_BAD_ARG',
        'sys.tool: arguments exceed the payload cap plus their handles, each counted once, once substituted',
      );
    }
    const callLabel = joinLabels(session.label, substituted.label);
    // A failure past this point (a schema error, a refusal naming the resource, the tool's own error, or
    // just its code) depends on the values of the handles passed, which the agent has not read: it raises
    // the context by the call's label as a result would, and a message that could quote handle data is
    // withheld. The sink check is decided by labels alone, so its message stays, but its refusal raises the
    // context too: a handle's label is data (which memory keys a labelled agent overwrote spelled a page to a
    // clean reader testing each key's handle against a sink, red-team pass 55). Vault secrets are scrubbed from
    // every message and result, which then carries the vault's tag (runtime/tool-use/vault.ts).
    const unread = !labelLeq(substituted.label, session.label);
    const failed = (error: unknown): never => {
      session.label = joinLabels(joinLabels(session.label, callLabel), observedBy(error));
      attempt.raise(observedBy(error));
      const { code, message } = toErrorInfo(error);
      if (!unread) {
        const scrubbed = vault.scrub(message);
        session.label = joinLabels(session.label, scrubbed.label);
        attempt.raise(scrubbed.label);
        throw new KernelError(code, scrubbed.value);
      }
      throw new KernelError(
        code,
        `sys.tool: "${name}" failed with ${code} (detail withheld: its arguments carry unread handle data labelled ${substituted.label.join(', ')})`,
      );
    };
    const guarded = <T>(step: () => T): T => {
      try {
        return step();
      } catch (error) {
        return failed(error);
      }
    };
    const use = guarded(() => prepareToolUse(tool, substituted.value));
    // A resource that carries a vault secret is a guess that matched: its records keep a digest of it.
    attempt.describe(use.action, use.resource, use.args, joinLabels(callLabel, vault.resourceLabel(use.resource)));
    // A tool with a bound on calls running at once (Tool.maxInFlight) holds a place from `start` until the call
    // ends. Past the bound, the call waits for one (runtime/tool-use/tool-slots.ts) before it is authorized: a
    // call authorized while queued ran whatever happened to the capability meanwhile (a revocation did not stop
    // queued requests). A waiting call then starts out of the dispatcher's sight, metered to the caller.
    const bound = tool.maxInFlight;
    // A full tree's refusal carries the labels of the calls holding its places: each the caller's and what the call
    // works on (its handle arguments, what it reads), which decides how long it holds its place (review 130).
    let holding = (): Label => callLabel;
    const holder = () => joinLabels(session.label, holding());
    const ended = bound === undefined ? noop : () => session.toolSlots.give(tool.name, holder);
    const start = (): unknown => {
      let prepared: PreparedContext | undefined;
      try {
        // A waiting call is handed its place a microtask before it starts: the agent may have ended in between.
        if (session.state === 'ended') throw new KernelError('E_KILLED', 'sys.tool: the agent has ended');
        attempt.begin();
        try {
          checkSinks(session.services.labels, use, callLabel);
        } catch (error) {
          session.label = joinLabels(session.label, callLabel);
          attempt.raise(substituted.label);
          throw error;
        }
        const decision = authorizeToolUse(session.services.authority, session.publicKey, use, callLabel);
        // The decision read use counters that other agents may have moved (a labelled child spending a delegated
        // capability): allowed or refused, the caller learns something of them.
        if (decision.observed !== undefined) session.label = joinLabels(session.label, decision.observed);
        if (!decision.ok) failed(new KernelError(decision.code, decision.message));
        // Counted once authorized, so a refused call costs no quota; crossing the limit kills the agent.
        attempt.addUsage('tool_calls', 1);
        session.quota?.charge('tool_calls', 1);
        const sourcesFor = (resource: string) => session.services.labels.sourceTags(tool, resource);
        // What the tool works on is labelled by the call and by what it reads: the time it meters (parsing what it
        // read) is reported with that label, joined before the charge (review 115: a `secret` page's parse moved a
        // clean caller's cpu_ms, read from kernel.agents() while the call ran).
        const working = () =>
          joinLabels(
            joinLabels(callLabel, prepared?.ctx.sources ?? sourcesFor(use.resource)),
            prepared?.taints() ?? EMPTY_LABEL,
          );
        holding = working;
        const caller = {
          id: session.id,
          holder: session.publicKey,
          subject: session.subject,
          signal: session.signal,
          quota: session.quota,
          held: session.held,
          tenant: session.tenant,
          metered: <T>(call: () => T): T => {
            session.worked(working());
            return session.metered(call);
          },
        };
        prepared = createToolContext(
          session.services.toolEnv,
          caller,
          use,
          callLabel,
          sourcesFor,
          attempt,
          options?.handle === true ? undefined : session.services.maxPayloadBytes,
        );
      } catch (error) {
        ended();
        throw error;
      }
      const source = prepared.ctx.sources;
      // The outcome record says the call was ok and how long it took, which depends on what the tool read: it takes
      // the result's label even where the caller does not (a handle; an ended caller). Otherwise the caller's rise
      // reaches the record (dispatch raises every outcome by the caller's label after the call).
      const keep = (value: unknown): unknown => {
        // The tool returned: whatever fails from here (a full handle table, the held share) fails after the effect.
        attempt.tookEffect();
        // The agent ended while the tool ran (a kill, its own charge, its main returning): the effect happened, and
        // the outcome says so (ok, with what it charged: pass 77 found it recorded `killed`, as a call that never
        // ran is). The value reaches no one: an ended agent is delivered nothing.
        if (session.state === 'ended') return deliver(undefined);
        // Scrubbing and keeping the value is kernel time charged to the caller, which the value decides.
        session.worked(joinLabels(joinLabels(callLabel, source), prepared.taints()));
        // While the vault holds a secret, the result is scrubbed in metered slices, each after a turn of the event
        // loop; it is delivered after the last (or to nobody, when the agent ended meanwhile).
        const scrubbing = prepared.scrub(value);
        if (!(scrubbing instanceof Promise)) return deliver(scrubbing);
        return scrubbing.then((scrubbed) => session.metered(() => deliver(scrubbed)));
      };
      const deliver = (scrubbed: VaultScrubbed<unknown> | undefined): unknown => {
        const read = joinLabels(joinLabels(callLabel, source), prepared.taints());
        if (scrubbed === undefined || session.state === 'ended') {
          attempt.raise(joinLabels(read, prepared.vaultLabel()));
          return null;
        }
        attempt.raise(prepared.vaultLabel());
        const resultLabel = joinLabels(read, scrubbed.label);
        if (options?.handle === true) {
          attempt.raise(resultLabel);
          return session.handles.create(scrubbed.value, resultLabel, place);
        }
        session.label = joinLabels(session.label, resultLabel);
        return scrubbed.value;
      };
      // A failure of the tool itself (not found, not empty, too large) is an observation of its resource, as a
      // result would be: it carries the same source tags, and the taints of what the tool read before it failed
      // (its error may quote it: an MCP server's own error text).
      const runFailed = (error: unknown): never => {
        session.label = joinLabels(session.label, joinLabels(source, prepared.taints()));
        attempt.raise(prepared.vaultLabel());
        return failed(error);
      };
      // The tool's own time before it first awaits is charged with the call's, which its resource decides.
      session.worked(joinLabels(callLabel, source));
      let result: unknown;
      try {
        result = runToolUse(use, prepared.ctx);
      } catch (error) {
        ended();
        return runFailed(error);
      }
      if (!(result instanceof Promise)) {
        ended();
        return keep(result);
      }
      // A result that arrives later is labelled, scrubbed and perhaps measured for a handle out of the
      // dispatcher's sight: that work is metered to the caller.
      return result.finally(ended).then((value) => session.metered(() => keep(value)), runFailed);
    };
    const run = (): unknown => {
      const waiting =
        bound === undefined ? undefined : session.toolSlots.take(tool.name, bound, session.signal, holder);
      return waiting === undefined ? start() : waiting.then(() => session.metered(start), failed);
    };
    // The decoded arguments stay in the kernel until the call settles, waiting for a place or running: they are
    // held against the caller's memory_mb (as decoded: the values of handles they name are held already), twice
    // when handles were substituted, as the copy of the way to each handle is kept too (at most their size).
    const copies = substituted.value === args ? 1 : 2;
    const releaseArguments = guarded(() => session.holdArguments(args, session.label, copies));
    // A result for a full handle table would be refused once the tool had run: its place is kept now, before the
    // effect (the agent's own count, no one's data), and given back if the call ends without taking it.
    let place: HandlePlace | undefined;
    try {
      place = options?.handle === true ? session.handles.reserve() : undefined;
    } catch (error) {
      releaseArguments();
      throw error;
    }
    const release = (): void => {
      place?.release();
      releaseArguments();
    };
    let outcome: unknown;
    try {
      outcome = run();
    } catch (error) {
      release();
      throw error;
    }
    if (!(outcome instanceof Promise)) {
      release();
      return outcome;
    }
    return outcome.finally(release);
  },
});
