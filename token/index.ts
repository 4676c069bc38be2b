/**
 * `isokernel/token`: verify isokernel capability tokens and chains anywhere, with public keys only.
 *
 * No node:crypto and no kernel: signatures are checked with @noble/ed25519 (strict RFC 8032 mode) under the
 * kernel's Ed25519 rule (runtime/core/ed25519-rule.ts: S < L, A and R canonical points of prime order), and
 * ids hashed with @noble/hashes. Parsing and chain rules are the kernel's own (runtime/capability/token.ts,
 * runtime/capability/chain.ts), so both sides accept the same tokens and the same signatures.
 * What this cannot know: use counters and revocations live in the issuing kernel.
 *
 * Importing this module sets noble's synchronous SHA-512 hook (`ed.hashes.sha512`), as noble v3 requires.
 */
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import {
  type CapabilityRequest,
  type ChainVerifyOptions,
  MAX_CHAIN_LENGTH,
  type ValidityWindow,
  validityWindow,
  verifyChainWith,
} from '../runtime/capability/chain.js';
import {
  type Capability,
  type CapabilityFailure,
  type CapabilityResult,
  openCapability,
  type SignatureVerifier,
} from '../runtime/capability/token.js';
import { passesPointRule } from '../runtime/core/ed25519-rule.js';

export type { Capability, CapabilityFailure, CapabilityRequest, CapabilityResult, ChainVerifyOptions, ValidityWindow };
export { MAX_CHAIN_LENGTH, validityWindow };

ed.hashes.sha512 = sha512;

/**
 * Ed25519 verification under the kernel's rule (runtime/core/ed25519-rule.ts): S < L, A and R canonical
 * points of prime order, then noble's strict (zip215: false) cofactored equation, which on such points is
 * the same as the kernel's cofactorless one. Never throws.
 */
export const nobleSignatureVerifier: SignatureVerifier = (publicKey, message, signature) => {
  try {
    return passesPointRule(publicKey, signature) && ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
};

/**
 * Decodes one token and checks its signature. Never throws; E_CAP_DENIED for anything that is not a
 * well-formed token signed by its issuer. Does not check trust, time or chain: use verifyToken for that.
 */
export function openToken(token: unknown): CapabilityResult<Capability> {
  return openCapability(token, nobleSignatureVerifier);
}

/**
 * Verifies a single root token: signed, issued by one of `options.anchors`, within its validity window at
 * `options.now` (default Date.now()), held by `options.holder` and allowing `options.request` when given.
 * Returns the capability, or E_CAP_DENIED / E_CAP_EXPIRED. Throws TypeError only for a malformed anchor or
 * holder key.
 */
export function verifyToken(token: string, options: ChainVerifyOptions): CapabilityResult<Capability> {
  const result = verifyChainWith(nobleSignatureVerifier, [token], options);
  return result.ok ? { ok: true, value: result.value[0]! } : result;
}

/**
 * Verifies a delegation chain (token strings, root first): every signature, the linkage (each link's
 * issuer is the previous link's audience and names it as parent), a trusted root, every link's validity
 * window, and, when given, the holder and the request against every link. Each link's signature and linkage
 * are checked, root first, before the next link is opened and before anything else, so a forged, untrusted or
 * broken chain only ever gets E_CAP_DENIED, after the signature checks up to its first bad link. Throws
 * TypeError only for host misuse.
 */
export function verifyChain(
  tokens: readonly string[],
  options: ChainVerifyOptions,
): CapabilityResult<readonly Capability[]> {
  return verifyChainWith(nobleSignatureVerifier, tokens, options);
}
