/**
 * The kernel's capability verifier: capability-token / capability-chain with node:crypto Ed25519.
 * `isokernel/token` is the same logic with @noble/ed25519 for processes without node:crypto; the two accept
 * exactly the same honest tokens (differential tests in test/runtime/capability-verify.test.ts).
 */

import { isSafePublicKey } from '../core/public-key.js';
import { type CapabilityRequest, type ChainVerifyOptions, MAX_CHAIN_LENGTH, verifyChainWith } from './chain.js';
import { verifySignature } from './signing-key.js';
import { type Capability, type CapabilityResult, openCapability, type SignatureVerifier } from './token.js';

export type { Capability, CapabilityRequest, CapabilityResult, ChainVerifyOptions };
export { MAX_CHAIN_LENGTH };

/**
 * Ed25519 verification with node:crypto (OpenSSL: strict RFC 8032, cofactorless). Refuses small-order and
 * non-canonical keys first, as the noble verifier does. Never throws.
 */
export const nodeSignatureVerifier: SignatureVerifier = (publicKey, message, signature) =>
  isSafePublicKey(publicKey) && verifySignature(publicKey, message, signature);

/**
 * Decodes one token and checks its signature with node:crypto. Never throws; E_CAP_DENIED for anything
 * that is not a well-formed token signed by its issuer. Does not check trust, time or chain.
 */
export function openToken(token: unknown): CapabilityResult<Capability> {
  return openCapability(token, nodeSignatureVerifier);
}

/**
 * Verifies a chain of token strings (root first) against trust anchors with node:crypto; see
 * `verifyChainWith` for the checks, their order and their codes. Throws TypeError only for host misuse
 * (tokens not an array, malformed anchor or holder key).
 */
export function verifyChain(
  tokens: readonly string[],
  options: ChainVerifyOptions,
): CapabilityResult<readonly Capability[]> {
  return verifyChainWith(nodeSignatureVerifier, tokens, options);
}
