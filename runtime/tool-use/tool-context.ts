import { Attempt, type AuditSubject } from '../audit/attempt.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { CapabilityAuthority } from '../capability/authority.js';
import { KernelError } from '../core/errors.js';
import { isActionName, parseResource } from '../core/resource-match.js';
import type { KvLabelStore } from '../labels/kv-label-store.js';
import { EMPTY_LABEL, joinLabels, joinTags, type Label, labelLeq } from '../labels/label.js';
import type { HeldMemory } from '../process/held-memory.js';
import type { Quota } from '../process/quota.js';
import type { BlobStore } from '../store/blob-store.js';
import type { StoreShares } from '../store/store-shares.js';
import type { Injection, ToolCharge, ToolContext } from './tool-contract.js';
import { authorizeToolUse, type ToolUse } from './tool-gate.js';
import type { UndoJournal } from './undo-journal.js';
import { VAULT_LABEL, type Vault, type VaultScrubbed } from './vault.js';

/** The kernel services a tool call's context draws on. */
export interface ToolEnvironment {
  readonly authority: CapabilityAuthority;
  readonly audit: AuditLog;
  readonly vault: Vault;
  readonly blobs: BlobStore;
  readonly labels: KvLabelStore;
  readonly undo: UndoJournal;
  /**
   * The in-memory store's shares, when the kernel has no store directory: what a call keeps there (blobs, undo
   * records, file labels) is sized by what the call saw, so the caller's tenant label takes that label.
   */
  readonly stored?: StoreShares | undefined;
}

/** Who a tool call runs for: an agent, or the host itself (no quota). */
export interface ToolCaller {
  readonly id: string;
  /** The public key capabilities are checked against. */
  readonly holder: string;
  readonly subject: AuditSubject;
  readonly signal: AbortSignal;
  readonly quota: Quota | undefined;
  /** What the kernel holds for the caller, against its memory_mb; undefined for the host. */
  readonly held?: HeldMemory | undefined;
  /** Whose share of the in-memory store the call's blobs and undo records draw on; undefined for the host. */
  readonly tenant?: string | undefined;
  /** Charges the kernel time of a synchronous call to the caller (AgentSession.metered); absent for the host. */
  readonly metered?: <T>(call: () => T) => T;
}

const noop = (): void => {};
const unmetered = <T>(call: () => T): T => call();

const CHARGE_FIELDS = ['tokens_in', 'tokens_out', 'cost_usd'] as const;

/** A tool call's context and what the tool added to its result's label. */
export interface PreparedContext {
  readonly ctx: ToolContext;
  /** Tags the tool added with `ctx.taint`. */
  taints(): Label;
  /**
   * `value` with vault secrets scrubbed, and the label that adds (`Vault.scrubSliced`: a promise whenever the
   * vault holds a secret, metered to the caller, which gives undefined once the caller has ended); a hit counts
   * for `vaultLabel`.
   */
  scrub<T>(value: T): VaultScrubbed<T> | Promise<VaultScrubbed<T> | undefined>;
  /**
   * `VAULT_LABEL` once anything of this call touched a vault secret (its arguments carried one, a hop's target
   * did, or a scrub replaced one), else empty: its outcome record carries it (red-team pass 47: an agent read
   * which of another's calls had been refused from the audit log, with a clean label).
   */
  vaultLabel(): Label;
}

/**
 * Builds the context of one authorized tool call. Vault secrets bound to the call are looked up here (the
 * call is already authorized) and the refs recorded in the audit log; redirect hops are authorized and
 * audited as calls of their own; charges go to the caller's quota and every ancestor's.
 */
export function createToolContext(
  env: ToolEnvironment,
  caller: ToolCaller,
  use: ToolUse,
  callLabel: Label,
  sourcesFor: (resource: string) => Label,
  attempt: Attempt,
  maxResultBytes?: number,
): PreparedContext {
  // Arguments that carry a vault secret hold a guess that matched: whatever the call returns, refuses or costs
  // may say which (runtime/tool-use/vault.ts), so all of it carries the vault's tag. Searched at once, so the
  // call starts in the turn it was made (searched in slices, calls started out of order and a call an agent made
  // as it returned never ran: review 112).
  let vaultTouched = env.vault.carriedIn(use.args);
  let extra: Label = vaultTouched ? VAULT_LABEL : EMPTY_LABEL;
  const sources = sourcesFor(use.resource);
  // Whatever the call keeps in the in-memory store is sized by what it saw: the tenant's share carries it.
  env.stored?.raise(caller.tenant, joinLabels(joinLabels(callLabel, sources), extra));
  const addExtra = (label: Label): void => {
    extra = joinLabels(extra, label);
    env.stored?.raise(caller.tenant, label);
  };
  // Refs of the secrets injected into this call (every hop).
  const injected = new Set<string>();
  const ctx: ToolContext = {
    agent: caller.id,
    tenant: caller.tenant,
    signal: caller.signal,
    label: callLabel,
    sources,
    inject: injectionFor(env, caller, use.action, use.resource, callLabel, injected),
    maxResultBytes,
    reauthorize(resource: string): Injection {
      if (parseResource(resource) === undefined) {
        throw new KernelError('E_BAD_ARG', `"${use.tool.name}": not a valid resource`);
      }
      // A server that reflects an injected secret into a redirect would otherwise send it to the next hop
      // (possibly another origin) and write it into the audit log as that hop's resource.
      // A target that carries a secret: what the call answers says so, and its audit record keeps a digest of
      // the target, not the target. Only a secret this call injected is refused (it would go on to the next
      // hop): refusing on any stored secret told a hostile server, by which of its redirects were never
      // followed, which of its guesses was one (red-team pass 47: a 4-digit PIN in 4 runs of a harmless agent).
      const carried = env.vault.carried(resource);
      if (carried.length > 0) {
        vaultTouched = true;
        addExtra(VAULT_LABEL);
        if (carried.some((ref) => injected.has(ref))) {
          throw new KernelError('E_TOOL_FAILED', `"${use.tool.name}": the new target carries a secret this call sent`);
        }
      }
      // That a hop happens, and where to, is what the previous resource answered: the hop is decided, audited and
      // counted with the label of everything the call has seen so far. Debited with the call's label alone, a
      // counted capability's remaining uses told a clean agent whether a tagged mail server had redirected its
      // search (a hit), a bit per call (red-team pass 52).
      const seen = joinLabels(joinLabels(callLabel, sources), extra);
      const hop: ToolUse = { ...use, resource };
      const hopAttempt = new Attempt(env.audit, caller.subject, 'tool', null);
      hopAttempt.describe(use.action, resource, use.args, seen);
      hopAttempt.begin();
      const decision = authorizeToolUse(env.authority, caller.holder, hop, seen);
      // Whether the hop is allowed depends on counters others may have moved: the result (or the failure the
      // refusal causes) carries their label.
      if (decision.observed !== undefined) addExtra(decision.observed);
      hopAttempt.end(decision.ok ? null : decision.code);
      if (!decision.ok) throw new KernelError(decision.code, decision.message);
      // What the hop answers comes from its resource: the result carries that resource's source tags too (a
      // redirect to a tagged server must not launder its answer through an untagged first URL).
      addExtra(sourcesFor(resource));
      return injectionFor(env, caller, use.action, resource, seen, injected);
    },
    taint(tags: readonly string[]): void {
      let label: Label;
      try {
        label = joinTags(tags, 'tags');
      } catch {
        throw new KernelError('E_INTERNAL', `"${use.tool.name}" reported malformed label tags`);
      }
      addExtra(label);
    },
    metered: caller.metered ?? ((call) => call()),
    tookEffect: () => attempt.tookEffect(),
    charge(usage: ToolCharge): void {
      const amounts = checkCharge(usage);
      // What decided the amount: the call's outcome record, which states it, and an end it causes carry it (review of
      // pass 77: a tool's token count decided by a secret was recorded at the caller's clean label).
      const decided = joinLabels(joinLabels(callLabel, ctx.sources), extra);
      if (amounts.length > 0) attempt.raise(decided);
      for (const [field, amount] of amounts) {
        attempt.addUsage(field, amount);
        // A charge past a limit ends the caller: that end depends on what decided the amount.
        caller.quota?.charge(field, amount, decided);
      }
    },
    hold(bytes: number): () => void {
      if (!Number.isSafeInteger(bytes) || bytes < 0) {
        throw new KernelError('E_INTERNAL', `"${use.tool.name}" held a malformed size`);
      }
      const held = caller.held;
      if (held === undefined || bytes === 0) return noop;
      // A hold past memory_mb ends the caller: that end depends on what the call has seen so far.
      held.hold(bytes, joinLabels(joinLabels(callLabel, ctx.sources), extra));
      let kept = true;
      return () => {
        if (kept) held.release(bytes);
        kept = false;
      };
    },
    // The resource it names is data of what the call had seen when it saved it.
    saveUndo: (capture) =>
      env.undo.save(
        use.tool.name,
        caller.id,
        capture,
        caller.tenant,
        joinLabels(joinLabels(callLabel, sources), extra),
      ),
    note(action: string, resource: string): void {
      if (!isActionName(action) || parseResource(resource) === undefined) {
        throw new KernelError('E_INTERNAL', `"${use.tool.name}" noted a malformed action or resource`);
      }
      // Its own pair of records, tied to the call by the arguments' digest (the call's action and resource).
      const record = new Attempt(env.audit, caller.subject, 'tool', null);
      record.describe(action, resource, { of: use.action, resource: use.resource }, callLabel);
      // `begin` hands the record to the OS: the tool notes what it is about to do, and a crash of the kernel during
      // it must not lose which program ran (review 84: the note sat in the buffer after the call's own flush).
      record.begin();
      record.end(null);
    },
    blobs: {
      put: (bytes) => env.blobs.put(bytes, caller.tenant),
      get: (id) => env.blobs.get(id),
    },
    labels: env.labels.forTenant(caller.tenant),
  };
  return {
    ctx,
    taints: () => extra,
    scrub<T>(value: T) {
      const noted = (scrubbed: VaultScrubbed<T> | undefined): VaultScrubbed<T> | undefined => {
        if (scrubbed !== undefined && scrubbed.label.length > 0) vaultTouched = true;
        return scrubbed;
      };
      const slicing = { meter: caller.metered ?? unmetered, stopped: () => caller.signal.aborted };
      const scrubbing = env.vault.scrubSliced(value, slicing);
      return scrubbing instanceof Promise ? scrubbing.then(noted) : (noted(scrubbing) as VaultScrubbed<T>);
    },
    // A tool's own `secret` taint (model.chat's key among the agent's words) counts too.
    vaultLabel: () => (vaultTouched || labelLeq(VAULT_LABEL, extra) ? VAULT_LABEL : EMPTY_LABEL),
  };
}

// All fields are checked before any is charged: a NaN beside a valid amount must charge nothing.
function checkCharge(usage: unknown): [(typeof CHARGE_FIELDS)[number], number][] {
  if (usage === null || typeof usage !== 'object' || Array.isArray(usage)) {
    throw new KernelError('E_BAD_ARG', 'charge must be an object of tokens_in, tokens_out, cost_usd');
  }
  const out: [(typeof CHARGE_FIELDS)[number], number][] = [];
  for (const [key, amount] of Object.entries(usage)) {
    const field = CHARGE_FIELDS.find((name) => name === key);
    if (field === undefined) throw new KernelError('E_BAD_ARG', `charge: unknown field "${key.slice(0, 32)}"`);
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) {
      throw new KernelError('E_BAD_ARG', `charge of ${field} must be a finite non-negative number`);
    }
    out.push([field, amount]);
  }
  return out;
}

function injectionFor(
  env: ToolEnvironment,
  caller: ToolCaller,
  action: string,
  resource: string,
  label: Label,
  injected: Set<string>,
): Injection {
  const { injection, refs } = env.vault.match(action, resource);
  for (const ref of refs) {
    injected.add(ref);
    // The log names the ref, never the secret.
    const record = new Attempt(env.audit, caller.subject, 'vault', null);
    record.describe('vault.inject', `vault:${ref}`, { ref, action, resource }, label, false);
    // Before the secret goes out, with the OS (see `note`).
    record.begin();
    record.end(null);
  }
  return injection;
}
