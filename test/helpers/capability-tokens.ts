// Hand-made capability tokens for tests: bodies the kernel would never sign, signed anyway.

import type { SigningKey } from '../../runtime/capability/signing-key.js';
import { SIGNATURE_DOMAIN } from '../../runtime/capability/token.js';
import { encodeBase64Url } from '../../runtime/core/base64.js';
import { canonicalJson } from '../../runtime/core/canonical-json.js';
import { encodePublicKey } from '../../runtime/core/public-key.js';

const encoder = new TextEncoder();

export interface CraftOptions {
  /** Sign without the domain prefix. */
  readonly noDomain?: boolean;
  /** Replace the envelope text (after signing) with this function's result. */
  readonly envelope?: (body: string, signature: string) => string;
}

/** A token whose body is exactly `body` (any JSON), signed by `key` over the canonical body. */
export function craftToken(body: Record<string, unknown>, key: SigningKey, options: CraftOptions = {}): string {
  const bodyText = canonicalJson(body);
  const message = encoder.encode((options.noDomain ? '' : SIGNATURE_DOMAIN) + bodyText);
  const signature = encodeBase64Url(key.sign(message));
  const envelope = options.envelope?.(bodyText, signature) ?? `{"b":${bodyText},"s":"${signature}"}`;
  return encodeBase64Url(encoder.encode(envelope));
}

/** A valid body for a root capability, to be altered by a test. */
export function rootBody(issuer: SigningKey, audience: SigningKey, extra: Record<string, unknown> = {}) {
  return {
    v: 1,
    iss: encodePublicKey(issuer.publicKey),
    aud: encodePublicKey(audience.publicKey),
    act: 'fs.read',
    res: '/workspace/**',
    nce: 'AAAAAAAAAAAAAAAAAAAAAA',
    ...extra,
  };
}

/** Decodes a token to its envelope text. */
export function envelopeText(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8');
}
