/**
 * The kernel's capability authority (docs/architecture.md §4): holds verified capability chains, decides every use, and
 * counts and revokes.
 *
 *   new CapabilityAuthority({ rootKey, now?, state? })
 *   .rootPublicKey                      the root key, base64url (a trust anchor)
 *   .now()                              the authority's clock (ms; never goes back)
 *   .addTrustAnchor(publicKey)          another key whose root capabilities are accepted by import
 *   .grant(spec)                        -> Capability signed by the root key (host API: throws on bad spec)
 *   .delegate(spec)                     -> result: a child signed by the parent's holder
 *   .import(token | tokens)             -> result: an externally signed token or chain (root first)
 *   .revoke(id)                         revokes a capability and, at once, everything delegated from it
 *   .forget(holder)                     drops an ended holder's capabilities (and their descendants) from memory
 *   .authorize(request)                 -> { ok, capabilityId, chain } | { ok: false, code, message }
 *   .list(holder)                       -> the holder's live capabilities with remaining uses and expiry
 *   .observedLabel(ids)                 -> the labels of the uses that moved those capabilities' counters
 *   .get(id) / .exportChain(id)         a known capability / its portable chain, root first
 *
 * Semantics. A use is allowed only if every link of the chain allows it on its own (action, resource,
 * constraints, validity window), none is revoked and none is out of uses: the effective permission is the
 * intersection, whatever a child claims. A use debits every link's counter, all or nothing, so a holder of
 * 10 uses that delegates 3 to each of five children still gets 10 uses in total. Revoking a link revokes
 * its descendants at once (descendants index) and is also checked link by link on every use, including
 * for chains imported after the revocation; revocations and counters are read through the state, so another
 * authority sharing the store is seen at once. Delegating is not a use.
 *
 * Verification is cached by capability id (and by exact token string): a chain's signatures are checked
 * once, when it enters the authority. The hot path, `authorize` with a known id, is a map lookup, the pattern
 * tests of the links that need them (an ancestor that provably covers a tested link below it adds nothing), the
 * chain's window, and per link the revocation flag and the counter.
 *
 * Counters are data. A use carries the label of the agent that made it (`request.label`), joined into every
 * counted link it debits; whoever later reads such a counter (remaining uses, a use refused as exhausted, a
 * delegation refused for asking more than remains) learns something of those agents' decisions, so
 * `authorize` reports the labels of the counters it consulted (`observed`) and `observedLabel` those of any
 * capabilities, for the caller to join into the reader's label. The labels live in memory only.
 *
 * Errors. Host misuse (wrong types, malformed keys, a bad grant spec) throws TypeError/RangeError. Anything
 * an agent can cause is a result: E_CAP_DENIED (no capability allows it, forged or untrusted tokens, a
 * presenter that is not the holder), E_CAP_EXPIRED (outside the validity window), E_CAP_EXHAUSTED,
 * E_CAP_REVOKED, E_ESCALATION (delegating a capability one does not hold), E_BAD_ARG (malformed delegation
 * fields or params), E_INTERNAL (a counter could not be stored: the use is refused). Messages name the
 * action and resource, never token bytes.
 */

import { type Constraints, constraintsAllow } from '../core/constraint-match.js';
import { publicKeyText } from '../core/public-key.js';
import {
  actionAllows,
  compileResourcePattern,
  isActionName,
  MAX_MATCH_WORK,
  parseResource,
  type ResourcePattern,
  type ResourceTarget,
  resourceTestCost,
} from '../core/resource-match.js';
import { EMPTY_LABEL, joinLabels, type Label } from '../labels/label.js';
import { type CapabilityScope, scopeWithin } from './attenuation.js';
import { type CapabilityRequest, describeRequest, isChildOf, MAX_CHAIN_LENGTH, validityWindow } from './chain.js';
import { nodeSignatureVerifier } from './node-verifier.js';
import type { SigningKey } from './signing-key.js';
import { type CapabilityState, MemoryCapabilityState } from './state.js';
import {
  type Capability,
  type CapabilityFailure,
  type CapabilityResult,
  failure,
  isCapabilityId,
  openCapability,
  type Signer,
  signCapability,
} from './token.js';

export interface CapabilityAuthorityOptions {
  /** Signs root capabilities; its public key is always a trust anchor. */
  readonly rootKey: SigningKey;
  /** Clock in ms since the epoch; Date.now by default. */
  readonly now?: () => number;
  /** Where revocations and counters are kept; in memory by default. */
  readonly state?: CapabilityState;
}

/** A root capability to grant (from the policy): a scope and who holds it. */
export interface GrantSpec extends CapabilityScope {
  readonly audience: string | Uint8Array;
}

/** A child capability to create; omitted fields copy the parent's (max uses: unbounded on its own). */
export interface DelegateSpec {
  readonly parentId: string;
  /** The parent's holder, who signs the child. */
  readonly delegator: Signer;
  readonly audience: string | Uint8Array;
  readonly action?: string;
  readonly resource?: string;
  readonly constraints?: Constraints;
  readonly maxUses?: number;
  readonly expiresAt?: number;
  readonly notBefore?: number;
}

export interface AuthorizeRequest extends CapabilityRequest {
  /** The presenter's public key. */
  readonly holder: string | Uint8Array;
  /** Use only this capability (an id the agent supplied); otherwise any capability the holder has. */
  readonly capabilityId?: string;
  /** The label of whoever makes the use: joined into the label of every counter it debits. */
  readonly label?: Label;
}

/**
 * A decision. `observed` is the join of the labels of the uses that moved the counters the decision read (the
 * chain used, and every matching capability judged before it): the caller joins it into the presenter's label.
 */
export type AuthorizeResult =
  | {
      readonly ok: true;
      readonly capabilityId: string;
      readonly chain: readonly string[];
      readonly observed: Label;
    }
  | (CapabilityFailure & { readonly observed?: Label });

/** One entry of `list`. */
export interface CapabilitySummary {
  readonly id: string;
  readonly action: string;
  readonly resource: string;
  /** Fewest uses left on any link; null when no link is bounded. */
  readonly remainingUses: number | null;
  /** Earliest expiry of any link; null when none expires. */
  readonly expiresAt: number | null;
}

/** A verified capability in the authority, linked to its parent. */
interface Link {
  readonly capability: Capability;
  readonly parent: Link | undefined;
  /** Root first, ending with this link. */
  readonly links: readonly Link[];
  readonly chainIds: readonly string[];
  readonly children: Set<Link>;
  readonly resource: ResourcePattern;
  /** Whether the capability has constraints (skips a for-in on the hot path). */
  readonly constrained: boolean;
  /**
   * The ancestors whose action, resource and constraints a use must test besides this link's own. An ancestor
   * is left out when a tested link below it is provably within it (`scopeWithin`, sound): whatever that link
   * allows, the ancestor allows too. The usual chain, each delegation narrower than its parent, has none.
   */
  readonly gates: readonly Link[];
  /** Whether testing this link's resource or a gate's walks a glob (`ResourcePattern.walks`): work to bound. */
  readonly walks: boolean;
  /** The chain's validity window: the latest not-before and the earliest expiry of its links (±Infinity when none). */
  readonly notBefore: number;
  readonly expiresAt: number;
  revoked: boolean;
  /** The size of the stored revocations when no link of the chain was revoked (-1 before the first check). */
  clearAt: number;
  used: number;
  /**
   * Whether any link of the chain, this one included, has max uses: only then does a use debit a counter or
   * move a label (signed fields, so this never changes). Lets an uncounted chain's use skip both walks.
   */
  readonly counted: boolean;
  /** The join of the labels of the uses that debited this link's counter (counted links only). */
  movedBy: Label;
  /** The result of an allowed use that observed nothing, built once: the cached check allocates nothing. */
  readonly allowed: AuthorizeResult;
}

type Verdict = 'allowed' | 'denied' | 'revoked' | 'expired' | 'not-yet-valid' | 'exhausted';

const NO_LINKS: ReadonlySet<Link> = new Set();
/**
 * A link's fixed share of `heldBytes`: its objects, map entries and sets besides the token's characters and its
 * compiled pattern (a delegated link measured 4.3-4.7 KB of it with Node 20, test/runtime/capability).
 */
const LINK_BYTES = 4 * 1024;
const NO_GATES: readonly Link[] = Object.freeze([]);

export class CapabilityAuthority {
  readonly rootPublicKey: string;
  readonly #rootKey: SigningKey;
  readonly #now: () => number;
  readonly #state: CapabilityState;
  readonly #anchors = new Set<string>();
  readonly #links = new Map<string, Link>();
  readonly #byToken = new Map<string, Link>();
  readonly #held = new Map<string, Set<Link>>();
  readonly #revoked: Set<string>;
  /** The state's live view of revocations: those made by another authority sharing the store. */
  readonly #storedRevocations: ReadonlySet<string>;
  readonly #actionNames = new Set<string>();
  #latest = Number.NEGATIVE_INFINITY;

  /** Throws TypeError when rootKey is not a SigningKey-like signer, now is not a function or state is missing methods. */
  constructor(options: CapabilityAuthorityOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { rootKey, now = Date.now, state = new MemoryCapabilityState() } = options;
    if (typeof rootKey !== 'object' || rootKey === null || typeof rootKey.sign !== 'function') {
      throw new TypeError('options.rootKey must be a SigningKey');
    }
    if (typeof now !== 'function') throw new TypeError('options.now must be a function');
    if (typeof state !== 'object' || state === null || typeof state.recordUses !== 'function') {
      throw new TypeError('options.state must be a CapabilityState');
    }
    this.#rootKey = rootKey;
    this.#now = now;
    this.#state = state;
    this.rootPublicKey = publicKeyText(rootKey.publicKey, 'options.rootKey.publicKey');
    this.#anchors.add(this.rootPublicKey);
    this.#storedRevocations = state.revokedIds();
    this.#revoked = new Set(this.#storedRevocations);
  }

  /**
   * The authority's clock: the injected clock, but never earlier than the latest time it has reported, so a
   * wall clock stepping back (NTP, a VM restore, a host bug) cannot revive a capability already seen expired.
   * A non-finite reading is NaN (every window then fails closed): -Infinity passed the chain-wide shortcut
   * (`now >= notBefore && now < expiresAt` with no notBefore) and revived expired capabilities (red-team pass 95).
   */
  now(): number {
    const now = this.#now();
    if (!Number.isFinite(now)) return Number.NaN;
    if (now > this.#latest) this.#latest = now;
    return this.#latest;
  }

  /** Trusts root capabilities issued by `publicKey` (for `import`). Throws TypeError for a malformed key. */
  addTrustAnchor(publicKey: string | Uint8Array): void {
    this.#anchors.add(publicKeyText(publicKey, 'publicKey'));
  }

  /**
   * Signs a root capability for `spec.audience` with the root key and holds it. Throws TypeError/RangeError
   * naming the field for an invalid spec (host input, e.g. from a validated policy).
   */
  grant(spec: GrantSpec): Capability {
    if (typeof spec !== 'object' || spec === null) throw new TypeError('spec must be an object');
    const capability = signCapability(
      {
        audience: spec.audience,
        action: spec.action,
        resource: spec.resource,
        ...optional('constraints', spec.constraints),
        ...optional('maxUses', spec.maxUses),
        ...optional('expiresAt', spec.expiresAt),
        ...optional('notBefore', spec.notBefore),
      },
      this.#rootKey,
    );
    return this.#adopt(capability, undefined).capability;
  }

  /**
   * Creates a child of `spec.parentId` signed by `spec.delegator` for `spec.audience`. Refuses with
   * E_ESCALATION when the delegator is not the parent's holder; E_CAP_DENIED for an unknown parent or a
   * chain that would be too long; E_CAP_REVOKED / E_CAP_EXPIRED / E_CAP_EXHAUSTED when the parent chain is
   * no longer usable; E_BAD_ARG for malformed child fields. The child need not be narrower (use is always
   * checked against every link); see `isAttenuation` to refuse wider children up front. Throws TypeError only
   * when the delegator is not a signer or the audience is not a key.
   */
  delegate(spec: DelegateSpec): CapabilityResult<Capability> {
    if (typeof spec !== 'object' || spec === null) throw new TypeError('spec must be an object');
    const { delegator } = spec;
    if (typeof delegator !== 'object' || delegator === null || typeof delegator.sign !== 'function') {
      throw new TypeError('spec.delegator must be a SigningKey');
    }
    const delegatorKey = publicKeyText(delegator.publicKey, 'spec.delegator.publicKey');
    const audience = publicKeyText(spec.audience, 'spec.audience');
    const parent = isCapabilityId(spec.parentId) ? this.#links.get(spec.parentId) : undefined;
    if (parent === undefined) return failure('E_CAP_DENIED', 'delegation denied: unknown capability');
    const what = describeRequest(parent.capability);
    if (parent.capability.audience !== delegatorKey) {
      return failure('E_ESCALATION', `delegation of ${what} denied: delegator does not hold the capability`);
    }
    if (parent.links.length >= MAX_CHAIN_LENGTH) {
      return failure('E_CAP_DENIED', `delegation of ${what} denied: chain would exceed ${MAX_CHAIN_LENGTH} links`);
    }
    const status = this.#judge(parent, this.now(), undefined, undefined);
    if (status !== 'allowed') return verdictFailure(status, `delegation of ${what}`);
    const base = parent.capability;
    let capability: Capability;
    try {
      capability = signCapability(
        {
          audience,
          action: spec.action ?? base.action,
          resource: spec.resource ?? base.resource,
          constraints: spec.constraints ?? base.constraints,
          parentId: base.id,
          ...optional('maxUses', spec.maxUses),
          ...optional('expiresAt', spec.expiresAt ?? base.expiresAt),
          ...optional('notBefore', spec.notBefore),
        },
        delegator,
      );
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) {
        return failure('E_BAD_ARG', `delegation of ${what} denied: ${error.message}`);
      }
      throw error;
    }
    return { ok: true, value: this.#adopt(capability, parent).capability };
  }

  /**
   * Imports an externally signed token, or a chain of them (root first; links already known are skipped).
   * Every signature is checked (node:crypto) before anything else; a root must be issued by a trust anchor
   * and a child must name a known parent and be signed by its holder, else E_CAP_DENIED; in a list, each link
   * must be the child of the one before it (red-team pass 95: a list that was no chain imported, where the
   * standalone verifier refuses it). Re-importing a known token returns the existing capability with its counters
   * intact. Links before a failing one stay imported (each is valid on its own). Validity windows and revocation
   * are not checked (a capability may be registered before it starts): see `standing`. Throws TypeError only
   * when `tokens` is neither a string nor an array.
   */
  import(tokens: string | readonly string[]): CapabilityResult<Capability> {
    const list = typeof tokens === 'string' ? [tokens] : tokens;
    if (!Array.isArray(list)) throw new TypeError('tokens must be a token string or an array of them');
    if (list.length === 0 || list.length > MAX_CHAIN_LENGTH) {
      return failure('E_CAP_DENIED', `capability import denied: chain must have 1 to ${MAX_CHAIN_LENGTH} links`);
    }
    let last: Link | undefined;
    for (const token of list) {
      const result = this.#importOne(token);
      if (!result.ok) return result;
      if (last !== undefined && result.value.capability.parentId !== last.capability.id) {
        return failure('E_CAP_DENIED', 'capability import denied: chain is broken');
      }
      last = result.value;
    }
    return { ok: true, value: last!.capability };
  }

  /**
   * Whether a known capability could be used now, judged as `isokernel/token` judges its chain (plus
   * revocation, which only the authority knows): E_CAP_REVOKED when a link is revoked, E_CAP_EXPIRED when a link
   * is outside its validity window, E_CAP_DENIED for an unknown id; else the capability. Debits nothing.
   */
  standing(id: string): CapabilityResult<Capability> {
    const link = this.#links.get(id);
    if (link === undefined) return failure('E_CAP_DENIED', 'capability is unknown');
    if (link.links.some((each) => this.#isRevoked(each))) return failure('E_CAP_REVOKED', 'a link is revoked');
    const now = this.now();
    for (const each of link.links) {
      const window = validityWindow(each.capability, now);
      if (window !== 'valid') {
        return failure('E_CAP_EXPIRED', window === 'expired' ? 'a link is expired' : 'a link is not yet valid');
      }
    }
    return { ok: true, value: link.capability };
  }

  #importOne(token: unknown): CapabilityResult<Link> {
    if (typeof token === 'string') {
      const known = this.#byToken.get(token);
      if (known !== undefined) return { ok: true, value: known };
    }
    const opened = openCapability(token, nodeSignatureVerifier);
    if (!opened.ok) return failure('E_CAP_DENIED', `capability import denied: ${opened.message}`);
    const capability = opened.value;
    const known = this.#links.get(capability.id);
    if (known !== undefined) return { ok: true, value: known };
    const what = `capability import of ${describeRequest(capability)} denied`;
    if (capability.parentId === undefined) {
      if (!this.#anchors.has(capability.issuer)) return failure('E_CAP_DENIED', `${what}: issuer is not trusted`);
      return { ok: true, value: this.#adopt(capability, undefined) };
    }
    const parent = this.#links.get(capability.parentId);
    if (parent === undefined) return failure('E_CAP_DENIED', `${what}: parent capability is unknown`);
    if (!isChildOf(parent.capability, capability)) return failure('E_CAP_DENIED', `${what}: chain is broken`);
    if (parent.links.length >= MAX_CHAIN_LENGTH) return failure('E_CAP_DENIED', `${what}: chain is too long`);
    return { ok: true, value: this.#adopt(capability, parent) };
  }

  #adopt(capability: Capability, parent: Link | undefined): Link {
    const existing = this.#links.get(capability.id);
    if (existing !== undefined) return existing;
    const resource = compileResourcePattern(capability.resource);
    // Unreachable: opened and signed capabilities have valid patterns.
    if (resource === undefined) throw new Error('capability resource pattern failed to compile');
    const links: Link[] = parent === undefined ? [] : [...parent.links];
    const gates = gatesOf(capability, parent);
    const chainIds = Object.freeze([...(parent?.chainIds ?? []), capability.id]);
    const link: Link = {
      capability,
      parent,
      links,
      chainIds,
      children: new Set(),
      resource,
      constrained: Object.keys(capability.constraints).length > 0,
      gates,
      walks: resource.walks || gates.some((each) => each.resource.walks),
      notBefore: Math.max(
        parent?.notBefore ?? Number.NEGATIVE_INFINITY,
        capability.notBefore ?? Number.NEGATIVE_INFINITY,
      ),
      expiresAt: Math.min(
        parent?.expiresAt ?? Number.POSITIVE_INFINITY,
        capability.expiresAt ?? Number.POSITIVE_INFINITY,
      ),
      revoked: (parent?.revoked ?? false) || this.#revoked.has(capability.id),
      clearAt: -1,
      used: this.#state.usedCount(capability.id),
      counted: (parent?.counted ?? false) || capability.maxUses !== undefined,
      movedBy: EMPTY_LABEL,
      allowed: Object.freeze({ ok: true, capabilityId: capability.id, chain: chainIds, observed: EMPTY_LABEL }),
    };
    links.push(link);
    Object.freeze(links);
    this.#links.set(capability.id, link);
    this.#byToken.set(capability.token, link);
    parent?.children.add(link);
    let held = this.#held.get(capability.audience);
    if (held === undefined) {
      held = new Set();
      this.#held.set(capability.audience, held);
    }
    held.add(link);
    return link;
  }

  /**
   * Revokes capability `id` and everything delegated from it, effective immediately in memory and then
   * stored; ids not (yet) known are recorded too, so a later import of them or their descendants is
   * revoked. Idempotent. Throws TypeError for a malformed id, and rethrows a storage failure (the
   * revocation still holds in this process).
   */
  revoke(id: string): void {
    if (!isCapabilityId(id)) throw new TypeError('id must be a capability id (64 lower-case hex digits)');
    this.#revoked.add(id);
    const root = this.#links.get(id);
    if (root !== undefined) {
      const pending: Link[] = [root];
      for (let link = pending.pop(); link !== undefined; link = pending.pop()) {
        link.revoked = true;
        for (const child of link.children) pending.push(child);
      }
    }
    this.#state.addRevocation(id);
  }

  /**
   * Drops from memory every capability `holder` holds, and everything delegated from those, once the holder
   * has ended (an agent that exited): nothing can present them any more, and a long-running host would
   * otherwise keep every agent's grants forever. Stored counters and revocations are untouched. Capabilities
   * the holder received by delegation stay attached to their parents until the parent's holder is forgotten.
   */
  forget(holder: string | Uint8Array): void {
    const key = publicKeyText(holder, 'holder');
    const pending = [...(this.#held.get(key) ?? NO_LINKS)];
    for (let link = pending.pop(); link !== undefined; link = pending.pop()) {
      for (const child of link.children) pending.push(child);
      const { id, token, audience } = link.capability;
      this.#links.delete(id);
      this.#byToken.delete(token);
      link.parent?.children.delete(link);
      const held = this.#held.get(audience);
      held?.delete(link);
      if (held?.size === 0) this.#held.delete(audience);
    }
  }

  /**
   * Decides a use and, if allowed, debits every bounded link of the chain that allows it (all or nothing,
   * stored before returning). Considers `request.capabilityId` only when given, else every capability the
   * holder holds, in the order they were acquired. Every link must allow the action, the resource (already
   * normalized by the tool: nothing is resolved here) and the params (with `defaults` for missing ones).
   * When nothing allows the request: the failure of the first capability that matched it (E_CAP_REVOKED,
   * E_CAP_EXPIRED or E_CAP_EXHAUSTED), else E_CAP_DENIED. Throws TypeError only for host misuse: a holder
   * that is not a key, an action that is not an action name, defaults that are not an object.
   */
  authorize(request: AuthorizeRequest): AuthorizeResult {
    if (typeof request !== 'object' || request === null) throw new TypeError('request must be an object');
    const holder =
      typeof request.holder === 'string' ? request.holder : publicKeyText(request.holder, 'request.holder');
    this.#checkAction(request.action);
    const { params, defaults, capabilityId } = request;
    if (defaults !== undefined && (typeof defaults !== 'object' || defaults === null)) {
      throw new TypeError('request.defaults must be an object');
    }
    if (params !== undefined && (typeof params !== 'object' || params === null)) {
      return failure('E_BAD_ARG', `capability for ${describeRequest(request)} denied: params must be an object`);
    }
    const target = parseResource(request.resource);
    if (target === undefined) {
      return failure(
        'E_CAP_DENIED',
        `capability for ${describeRequest(request)} denied: resource is not in normal form`,
      );
    }
    const now = this.now();

    if (capabilityId !== undefined) {
      // A plain lookup: a malformed id is simply not found, no need to validate it first.
      const link = typeof capabilityId === 'string' ? this.#links.get(capabilityId) : undefined;
      if (link === undefined || link.capability.audience !== holder) {
        return failure('E_CAP_DENIED', `capability for ${describeRequest(request)} denied: not held by the presenter`);
      }
      const verdict = this.#judge(link, now, request, target);
      const observed = verdict === 'denied' ? EMPTY_LABEL : observedOf(link);
      return verdict === 'allowed'
        ? this.#debit(link, request, observed)
        : { ...verdictFailure(verdict, describeFor(request)), observed };
    }

    // Every capability that matched the request was judged on its counters too (spent ones are skipped),
    // so the outcome depends on all of those counters.
    // The glob walks of one call are bounded (MAX_MATCH_WORK): past it, a capability whose test would walk a
    // glob is skipped (string comparisons still run), and a denial says so.
    let first: Verdict = 'denied';
    let observed = EMPTY_LABEL;
    let work = 0;
    let skipped = false;
    for (const link of this.#held.get(holder) ?? NO_LINKS) {
      if (link.walks && actionAllows(link.capability.action, request.action)) {
        const cost = walkCost(link, target);
        if (work > 0 && work + cost > MAX_MATCH_WORK) {
          skipped = true;
          continue;
        }
        work += cost;
      }
      const verdict = this.#judge(link, now, request, target);
      if (verdict !== 'denied') observed = joinLabels(observed, observedOf(link));
      if (verdict === 'allowed') return this.#debit(link, request, observed);
      if (first === 'denied') first = verdict;
    }
    if (skipped && first === 'denied') {
      return {
        ...failure(
          'E_CAP_DENIED',
          `${describeFor(request)} denied: too many glob capabilities to check against this resource (name one with a capability id)`,
        ),
        observed,
      };
    }
    return { ...verdictFailure(first, describeFor(request)), observed };
  }

  // A link that does not match the request makes the verdict "denied" whatever
  // else is wrong with the chain, so a revoked or spent capability for something else never masks it.
  // Otherwise revoked beats outside-the-window, which beats exhausted. Without a request (delegation) only
  // the chain's state is judged.
  #judge(link: Link, now: number, request: CapabilityRequest | undefined, target: ResourceTarget | undefined): Verdict {
    if (request !== undefined && target !== undefined) {
      if (!allows(link, request, target)) return 'denied';
      for (const each of link.gates) if (!allows(each, request, target)) return 'denied';
    }
    // A revocation in this authority marks the revoked link's whole subtree, so `link.revoked` covers its
    // ancestors; one by another authority on the store shows up only in the stored set, which never shrinks, so
    // its size tells whether anything was revoked since the chain was last found clear (≈ 40 ns a check for
    // three links, bench/capability.bench.ts).
    if (link.revoked) return 'revoked';
    const stored = this.#storedRevocations.size;
    if (link.clearAt !== stored) {
      for (const each of link.links) if (this.#isRevoked(each)) return 'revoked';
      link.clearAt = stored;
    }
    // The chain-wide window decides the common case; only a use outside it needs the first link that fails.
    if (!(now >= link.notBefore && now < link.expiresAt)) {
      for (const each of link.links) {
        const window = validityWindow(each.capability, now);
        if (window !== 'valid') return window;
      }
    }
    if (link.counted) {
      for (const each of link.links) {
        const { maxUses } = each.capability;
        if (maxUses !== undefined && this.#used(each) >= maxUses) return 'exhausted';
      }
    }
    return 'allowed';
  }

  // Another authority sharing the store may have revoked or used a link: the state is checked on every use.
  #isRevoked(link: Link): boolean {
    if (!link.revoked && this.#storedRevocations.has(link.capability.id)) link.revoked = true;
    return link.revoked;
  }

  #used(link: Link): number {
    const stored = this.#state.usedCount(link.capability.id);
    if (stored > link.used) link.used = stored;
    return link.used;
  }

  #debit(link: Link, request: AuthorizeRequest, observed: Label): AuthorizeResult {
    // No link has a counter: nothing to debit or store (the walk below would find none).
    if (!link.counted) {
      return observed === EMPTY_LABEL
        ? link.allowed
        : { ok: true, capabilityId: link.capability.id, chain: link.chainIds, observed };
    }
    const counts: [string, number][] = [];
    for (const each of link.links) {
      if (each.capability.maxUses !== undefined) counts.push([each.capability.id, this.#used(each) + 1]);
    }
    if (counts.length > 0) {
      try {
        this.#state.recordUses(counts);
      } catch {
        return failure('E_INTERNAL', `capability for ${describeRequest(request)} denied: use could not be recorded`);
      }
      const label = request.label;
      for (const each of link.links) {
        if (each.capability.maxUses === undefined) continue;
        each.used++;
        if (label !== undefined && label.length > 0) each.movedBy = joinLabels(each.movedBy, label);
      }
    }
    return { ok: true, capabilityId: link.capability.id, chain: link.chainIds, observed };
  }

  // The kernel uses a handful of action names; remembering the valid ones keeps a regex off the hot path.
  #checkAction(action: unknown): void {
    if (typeof action === 'string' && this.#actionNames.has(action)) return;
    if (!isActionName(action)) throw new TypeError('request.action must be an action name');
    if (this.#actionNames.size >= 1024) this.#actionNames.clear();
    this.#actionNames.add(action);
  }

  /**
   * The capabilities `holder` holds that are neither revoked nor expired, in acquisition order, with the
   * fewest uses left on any link and the earliest expiry of any link. Throws TypeError for a malformed key.
   */
  list(holder: string | Uint8Array): CapabilitySummary[] {
    const key = publicKeyText(holder, 'holder');
    const now = this.now();
    const out: CapabilitySummary[] = [];
    for (const link of this.#held.get(key) ?? NO_LINKS) {
      if (link.links.some((each) => this.#isRevoked(each) || validityWindow(each.capability, now) === 'expired')) {
        continue;
      }
      let remainingUses: number | null = null;
      let expiresAt: number | null = null;
      for (const each of link.links) {
        const { capability } = each;
        if (capability.maxUses !== undefined) {
          const left = Math.max(0, capability.maxUses - this.#used(each));
          remainingUses = remainingUses === null ? left : Math.min(remainingUses, left);
        }
        if (capability.expiresAt !== undefined) {
          expiresAt = expiresAt === null ? capability.expiresAt : Math.min(expiresAt, capability.expiresAt);
        }
      }
      const { id, action, resource } = link.capability;
      out.push({ id, action, resource, remainingUses, expiresAt });
    }
    return out;
  }

  /**
   * An upper estimate of the heap this authority keeps for the capabilities `holder` holds (each link's parsed
   * token and bookkeeping, measured about 2.8 KB for a 363-character token and 14.7 KB for a 7,358-character
   * one, and its compiled resource pattern: a 256-character glob keeps about 19 KB, red-team pass 133), for the
   * kernel to count against the holder's memory: they live as long as it does. Never throws.
   */
  heldBytes(holder: string): number {
    let bytes = 0;
    for (const link of this.#held.get(holder) ?? NO_LINKS) {
      bytes += LINK_BYTES + 2 * link.capability.token.length + link.resource.heldBytes;
    }
    return bytes;
  }

  /**
   * The join of the labels of the uses that moved the counters of these capabilities' chains (what reading
   * their remaining uses reveals). Unknown ids add nothing. Never throws.
   */
  observedLabel(ids: Iterable<string>): Label {
    let label = EMPTY_LABEL;
    for (const id of ids) {
      const link = this.#links.get(id);
      if (link !== undefined) label = joinLabels(label, observedOf(link));
    }
    return label;
  }

  /** A capability this authority holds, or undefined. Never throws. */
  get(id: string): Capability | undefined {
    return this.#links.get(id)?.capability;
  }

  /** The portable chain of a known capability (token strings, root first), or undefined. Never throws. */
  exportChain(id: string): readonly string[] | undefined {
    return this.#links.get(id)?.links.map((link) => link.capability.token);
  }
}

// Link.gates of a new link: one cover test against its parent, when it enters the authority. A parent that covers
// the new link needs no test of its own, and its gates stand for the ancestors above it (each of them covers the
// parent, and so the new link, or is among those gates); a parent that does not is tested, with its gates.
function gatesOf(capability: Capability, parent: Link | undefined): readonly Link[] {
  if (parent === undefined) return NO_GATES;
  return scopeWithin(parent.capability, capability) ? parent.gates : Object.freeze([parent, ...parent.gates]);
}

// An upper bound on the glob walks of judging `link` (its resource and its gates') against `target`.
function walkCost(link: Link, target: ResourceTarget): number {
  let cost = resourceTestCost(link.resource, target);
  for (const each of link.gates) cost += resourceTestCost(each.resource, target);
  return cost;
}

// Whether this one link allows the request by action, resource and constraints.
function allows(link: Link, request: CapabilityRequest, target: ResourceTarget): boolean {
  const { capability } = link;
  return (
    actionAllows(capability.action, request.action) &&
    link.resource.test(target) &&
    (!link.constrained || constraintsAllow(capability.constraints, request.params, request.defaults))
  );
}

// The labels of the uses that moved the counted links of `link`'s chain (none when no link is counted: only a
// counted link's movedBy ever changes).
function observedOf(link: Link): Label {
  if (!link.counted) return EMPTY_LABEL;
  let label = EMPTY_LABEL;
  for (const each of link.links) if (each.movedBy.length > 0) label = joinLabels(label, each.movedBy);
  return label;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function describeFor(request: CapabilityRequest): string {
  return `capability for ${describeRequest(request)}`;
}

function verdictFailure(verdict: Exclude<Verdict, 'allowed'>, what: string): CapabilityFailure {
  switch (verdict) {
    case 'denied':
      return failure('E_CAP_DENIED', `${what} denied: no capability allows it`);
    case 'revoked':
      return failure('E_CAP_REVOKED', `${what} denied: revoked`);
    case 'expired':
      return failure('E_CAP_EXPIRED', `${what} denied: expired`);
    case 'not-yet-valid':
      return failure('E_CAP_EXPIRED', `${what} denied: not yet valid`);
    case 'exhausted':
      return failure('E_CAP_EXHAUSTED', `${what} denied: no uses left`);
  }
}
