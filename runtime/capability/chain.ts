/**
 * Chain semantics (docs/architecture.md §4), shared by the kernel and the standalone verifier.
 *
 * A chain is a list of capabilities, root first. It is authentic when every token is signed by its issuer,
 * the root has no parent and is issued by a trust anchor, and each later link names the previous link as its
 * parent and is issued by the previous link's audience. A request is allowed only when every link allows
 * it on its own (action, resource, constraints, validity window): the effective permission is the
 * intersection, whatever a child claims. Counters and revocation need state and live in the authority.
 *
 * Pure: the signature check is injected (node:crypto in the kernel, noble in `isokernel/token`).
 */

import { constraintsAllow } from '../core/constraint-match.js';
import { publicKeyText } from '../core/public-key.js';
import {
  actionAllows,
  compileResourcePattern,
  isActionName,
  parseResource,
  type ResourceTarget,
} from '../core/resource-match.js';
import {
  type Capability,
  type CapabilityFailure,
  type CapabilityResult,
  failure,
  openCapability,
  type SignatureVerifier,
} from './token.js';

/** Longest chain accepted: delegation depth is bounded so a chain walk is bounded. */
export const MAX_CHAIN_LENGTH = 32;

/** A use of a capability: what is done, to what, with which arguments. */
export interface CapabilityRequest {
  readonly action: string;
  readonly resource: string;
  /** The call's arguments, as constraints see them. */
  readonly params?: Readonly<Record<string, unknown>>;
  /** The tool's defaults for arguments the call leaves out. */
  readonly defaults?: Readonly<Record<string, unknown>>;
}

export type ValidityWindow = 'valid' | 'expired' | 'not-yet-valid';

/**
 * Where `now` falls in the capability's validity window: valid when notBefore <= now < expiresAt (each
 * bound only if present). Fails closed: a non-finite `now` is 'expired'. Never throws.
 */
export function validityWindow(capability: Pick<Capability, 'expiresAt' | 'notBefore'>, now: number): ValidityWindow {
  if (!Number.isFinite(now)) return 'expired';
  const { expiresAt, notBefore } = capability;
  // Written so that any non-number would fail, not pass, the comparison.
  if (expiresAt !== undefined && !(now < expiresAt)) return 'expired';
  if (notBefore !== undefined && !(now >= notBefore)) return 'not-yet-valid';
  return 'valid';
}

/**
 * True when this one capability allows the request: its action pattern allows `request.action`, its resource
 * pattern matches `target` (the request's resource, validated by `parseResource`) and its constraints
 * allow the params. Ignores validity window, chain, counters and revocation. Never throws.
 */
export function capabilityAllows(capability: Capability, request: CapabilityRequest, target: ResourceTarget): boolean {
  const pattern = compileResourcePattern(capability.resource);
  return (
    pattern !== undefined &&
    actionAllows(capability.action, request.action) &&
    pattern.test(target) &&
    constraintsAllow(capability.constraints, request.params, request.defaults)
  );
}

/**
 * True when `child` is a well-formed delegation of `parent`: it names it as parent and its issuer is the
 * parent's holder. Never throws.
 */
export function isChildOf(parent: Capability, child: Capability): boolean {
  return child.parentId === parent.id && child.issuer === parent.audience;
}

/** A request described for a message: action and (shortened, quoted) resource, never token bytes. Never throws. */
export function describeRequest(request: Pick<CapabilityRequest, 'action' | 'resource'>): string {
  const resource = typeof request.resource === 'string' ? request.resource : '';
  const shown = resource.length > 200 ? `${resource.slice(0, 200)}...` : resource;
  return `${String(request.action).slice(0, 128)} on ${JSON.stringify(shown)}`;
}

export interface ChainVerifyOptions {
  /** Keys trusted to issue root capabilities. */
  readonly anchors: Iterable<string | Uint8Array>;
  /** Time in ms for the validity windows; Date.now() by default. */
  readonly now?: number;
  /** When given, the chain's last audience must be this key. */
  readonly holder?: string | Uint8Array;
  /** When given, every link must allow this request. */
  readonly request?: CapabilityRequest;
}

/**
 * Verifies a chain of token strings (root first) with the given signature verifier. Each link, root first,
 * is signature-checked and then linked (the root to a trust anchor, a child to its parent) before the next is
 * opened, so a chain with a forged, untrusted or broken link fails with E_CAP_DENIED whatever else is wrong with
 * it, at the cost of the links up to that one. Then, in order: holder (E_CAP_DENIED), validity windows
 * (E_CAP_EXPIRED), the request on every link (E_CAP_DENIED). Returns the decoded chain.
 * Never throws for any token content; throws TypeError when `tokens` is not an array or an anchor or holder
 * is not a valid key (host misuse).
 */
export function verifyChainWith(
  verify: SignatureVerifier,
  tokens: readonly string[],
  options: ChainVerifyOptions,
): CapabilityResult<readonly Capability[]> {
  if (!Array.isArray(tokens)) throw new TypeError('tokens must be an array of token strings');
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const anchors = new Set<string>();
  for (const anchor of options.anchors) anchors.add(publicKeyText(anchor, 'options.anchors'));
  const holder = options.holder === undefined ? undefined : publicKeyText(options.holder, 'options.holder');
  const now = options.now ?? Date.now();
  const request = options.request;
  const what = request === undefined ? 'capability chain' : `capability for ${describeRequest(request)}`;

  if (tokens.length === 0 || tokens.length > MAX_CHAIN_LENGTH) {
    return failure('E_CAP_DENIED', `${what} denied: chain must have 1 to ${MAX_CHAIN_LENGTH} links`);
  }
  // Link by link, stopping at the first refusal: a chain of 32 links by throwaway keys cost 32 signature checks
  // before its untrusted root was refused (red-team pass 120: 100 ms a refusal with the noble verifier).
  const chain: Capability[] = [];
  for (const token of tokens) {
    const opened = openCapability(token, verify);
    if (!opened.ok) return failure('E_CAP_DENIED', `${what} denied: ${opened.message}`);
    const link = opened.value;
    const parent = chain.at(-1);
    if (parent === undefined && (link.parentId !== undefined || !anchors.has(link.issuer))) {
      return failure('E_CAP_DENIED', `${what} denied: root is not issued by a trust anchor`);
    }
    if (parent !== undefined && !isChildOf(parent, link)) {
      return failure('E_CAP_DENIED', `${what} denied: chain is broken`);
    }
    chain.push(link);
  }
  const leaf = chain[chain.length - 1]!;
  if (holder !== undefined && leaf.audience !== holder) {
    return failure('E_CAP_DENIED', `${what} denied: presenter is not the holder`);
  }
  for (const link of chain) {
    const window = validityWindow(link, now);
    if (window !== 'valid') return failure('E_CAP_EXPIRED', `${what} denied: a link is ${windowText(window)}`);
  }
  if (request !== undefined) {
    const denied = requestDenial(chain, request);
    if (denied !== undefined) return denied;
  }
  return { ok: true, value: Object.freeze(chain) };
}

function requestDenial(chain: readonly Capability[], request: CapabilityRequest): CapabilityFailure | undefined {
  const what = `capability for ${describeRequest(request)}`;
  if (!isActionName(request.action)) return failure('E_CAP_DENIED', `${what} denied: not a valid action name`);
  const target = parseResource(request.resource);
  if (target === undefined) return failure('E_CAP_DENIED', `${what} denied: resource is not in normal form`);
  if (!chain.every((link) => capabilityAllows(link, request, target))) {
    return failure('E_CAP_DENIED', `${what} denied: not allowed by every link of the chain`);
  }
  return undefined;
}

/** Human text for a validity window failure. Never throws. */
export function windowText(window: Exclude<ValidityWindow, 'valid'>): string {
  return window === 'expired' ? 'expired' : 'not yet valid';
}
