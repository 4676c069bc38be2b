/**
 * The kernel's capability verifier: capability-token / capability-chain with node:crypto Ed25519.
 * `isokernel/token` is the same logic with @noble/ed25519 for processes without node:crypto; both apply the
 * rule of runtime/core/ed25519-rule.ts, so they accept exactly the same signatures, edge cases included
 * (differential tests in test/runtime/capability/node-verifier.test.ts, published vectors in
 * test/runtime/capability/ed25519-vectors.test.ts).
 */

import { passesKeyAndScalarRule } from '../core/ed25519-rule.js';
import { type CapabilityRequest, type ChainVerifyOptions, MAX_CHAIN_LENGTH, verifyChainWith } from './chain.js';
import { verifySignature } from './signing-key.js';
import { type Capability, type CapabilityResult, openCapability, type SignatureVerifier } from './token.js';

export type { Capability, CapabilityRequest, CapabilityResult, ChainVerifyOptions };
export { MAX_CHAIN_LENGTH };

/**
 * Ed25519 verification under the kernel's rule (runtime/core/ed25519-rule.ts): S < L, A and R canonical
 * points of prime order, then OpenSSL's cofactorless equation. OpenSSL's acceptance with a prime-order A
 * already puts R in the prime-order subgroup, so only the identity R is refused before it. Never throws.
 */
export const nodeSignatureVerifier: SignatureVerifier = (publicKey, message, signature) =>
  passesKeyAndScalarRule(publicKey, signature) && verifySignature(publicKey, message, signature);

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
