/**
 * Capability tokens: the signed, portable form of one capability (docs/architecture.md §4).
 *
 * Wire format. The body is a JSON object with short, stable field names:
 *   v    1 (format version)              iss  issuer public key      aud  audience (holder) public key
 *   act  action pattern                  res  resource pattern        con  argument constraints (optional)
 *   exp  expires at, ms since epoch      nbf  not before, ms          max  max uses (optional)
 *   par  parent capability id            nce  16-byte random nonce
 * Keys and the signature are unpadded base64url (keys raw 32-byte Ed25519). The signature is Ed25519 by
 * `iss` over SIGNATURE_DOMAIN followed by the UTF-8 canonical JSON of the body. The token string is the
 * base64url of the canonical JSON of `{ "b": body, "s": signature }`; only that exact string is accepted,
 * so a capability has one token string. Its id is the lower-case hex SHA-256 of the canonical body.
 *
 * Opening a token checks the signature before anything else about the body is looked at, so a forged or
 * tampered token is only ever told E_CAP_DENIED, never which field it got wrong.
 *
 * Pure: no node:crypto here (the signature check is injected), so `isokernel/token` can share this parser and
 * both verifiers accept exactly the same bodies.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { decodeBase64Url, encodeBase64Url } from '../core/base64.js';
import { canonicalJson } from '../core/canonical-json.js';
import { type Constraints, constraintsSchema } from '../core/constraint-match.js';
import type { ErrorCode } from '../core/errors.js';
import { decodePublicKey, PUBLIC_KEY_TEXT_LENGTH, publicKeyText } from '../core/public-key.js';
import { isActionPattern, isResourcePattern } from '../core/resource-match.js';

export const TOKEN_VERSION = 1;
/** Prefixed to the body before signing, so a capability signature can never be replayed as anything else. */
export const SIGNATURE_DOMAIN = 'isokernel/capability/v1\n';
export const MAX_TOKEN_LENGTH = 8192;
/** Latest representable Date, in ms. */
export const MAX_TIME = 8.64e15;
export const MAX_USES = 1_000_000_000;

const NONCE_BYTES = 16;
const SIGNATURE_BYTES = 64;
const ID_PATTERN = /^[0-9a-f]{64}$/;
const DOMAIN_BYTES = new TextEncoder().encode(SIGNATURE_DOMAIN);
const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM stays in the text (and JSON.parse refuses it).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Checks one Ed25519 signature. Must return false, never throw, for malformed input. */
export type SignatureVerifier = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** Anything that can sign as a key (SigningKey fits). */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** A decoded, signature-checked capability. Immutable. */
export interface Capability {
  /** Lower-case hex SHA-256 of the canonical body. */
  readonly id: string;
  /** The portable token string. */
  readonly token: string;
  readonly issuer: string;
  readonly audience: string;
  readonly action: string;
  readonly resource: string;
  /** Empty when the token has none. */
  readonly constraints: Constraints;
  readonly expiresAt?: number;
  readonly notBefore?: number;
  readonly maxUses?: number;
  readonly parentId?: string;
  readonly nonce: string;
}

/** What a signer puts in a new token; the issuer is the signer's key. */
export interface CapabilityClaims {
  readonly audience: string | Uint8Array;
  readonly action: string;
  readonly resource: string;
  readonly constraints?: Constraints;
  readonly expiresAt?: number;
  readonly notBefore?: number;
  readonly maxUses?: number;
  readonly parentId?: string;
  /** 16 random bytes, base64url; a fresh one by default. */
  readonly nonce?: string;
}

/** How every capability operation reports a refusal an agent could cause. */
export interface CapabilityFailure {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
}

export type CapabilityResult<T> = { readonly ok: true; readonly value: T } | CapabilityFailure;

/** Builds a frozen failure record. Never throws. */
export function failure(code: ErrorCode, message: string): CapabilityFailure {
  return Object.freeze({ ok: false, code, message });
}

/** True when `value` has the shape of a capability id (64 lower-case hex digits). Never throws. */
export function isCapabilityId(value: unknown): value is string {
  return typeof value === 'string' && value.length === 64 && ID_PATTERN.test(value);
}

const keyText = z
  .string()
  .length(PUBLIC_KEY_TEXT_LENGTH)
  .refine((value) => decodePublicKey(value) !== undefined, 'not a safe Ed25519 public key');
const timeSchema = z.int().min(0).max(MAX_TIME);

const bodySchema = z.strictObject({
  v: z.literal(TOKEN_VERSION),
  iss: keyText,
  aud: keyText,
  act: z.string().refine(isActionPattern, 'not a valid action pattern'),
  res: z.string().refine(isResourcePattern, 'not a valid resource pattern'),
  con: constraintsSchema.optional(),
  exp: timeSchema.optional(),
  nbf: timeSchema.optional(),
  max: z.int().min(1).max(MAX_USES).optional(),
  par: z.string().regex(ID_PATTERN).optional(),
  nce: z.string().refine((value) => decodeBase64Url(value)?.length === NONCE_BYTES, 'not a 16-byte nonce'),
});

type Body = z.infer<typeof bodySchema>;

const INVALID = failure('E_CAP_DENIED', 'capability token is invalid');

/**
 * Decodes a token string and checks its signature with `verify`, then its fields. Never throws. Fails with
 * E_CAP_DENIED and a fixed message for anything that is not a well-formed token signed by its `iss` (wrong
 * encoding, non-canonical JSON, bad signature, unsafe issuer key); only after the signature holds may the
 * message name the offending field. Does not decide whether the issuer is trusted, whether the token is
 * within its validity window, or anything about its chain: see capability-chain.ts.
 */
export function openCapability(token: unknown, verify: SignatureVerifier): CapabilityResult<Capability> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return INVALID;
  const bytes = decodeBase64Url(token);
  if (bytes === undefined) return INVALID;
  let envelope: unknown;
  let bodyText: string;
  try {
    const text = utf8Decoder.decode(bytes);
    envelope = JSON.parse(text);
    if (!isPlainRecord(envelope) || Object.keys(envelope).length !== 2 || typeof envelope['s'] !== 'string') {
      return INVALID;
    }
    bodyText = canonicalJson(envelope['b']);
    // The one accepted spelling of the envelope; equivalent to canonicalJson(envelope) === text.
    if (text !== `{"b":${bodyText},"s":${JSON.stringify(envelope['s'])}}`) return INVALID;
  } catch {
    return INVALID;
  }
  const { b: body, s: signatureText } = envelope;
  if (!isPlainRecord(body)) return INVALID;
  const signature = decodeBase64Url(signatureText);
  const issuerKey = decodePublicKey(body['iss']);
  if (signature === undefined || signature.length !== SIGNATURE_BYTES || issuerKey === undefined) return INVALID;
  const bodyBytes = utf8Encoder.encode(bodyText);
  if (!verify(issuerKey, signingMessage(bodyBytes), signature)) return INVALID;

  const parsed = bodySchema.safeParse(body);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path[0];
    return failure('E_CAP_DENIED', `capability token field ${typeof field === 'string' ? field : 'body'} is invalid`);
  }
  return { ok: true, value: toCapability(parsed.data, bytesToHex(sha256(bodyBytes)), token) };
}

/**
 * Signs a new capability as `signer`. Throws TypeError/RangeError naming the claim when a claim is invalid
 * (a malformed key, pattern, constraint, time or use count) or the token would exceed MAX_TOKEN_LENGTH:
 * this is the host's API, so a bad claim is a programming error.
 */
export function signCapability(claims: CapabilityClaims, signer: Signer): Capability {
  if (typeof claims !== 'object' || claims === null) throw new TypeError('claims must be an object');
  if (typeof signer !== 'object' || signer === null || typeof signer.sign !== 'function') {
    throw new TypeError('signer must have publicKey and sign()');
  }
  const constraints = claims.constraints ?? {};
  const body = {
    v: TOKEN_VERSION,
    iss: publicKeyText(signer.publicKey, 'signer.publicKey'),
    aud: publicKeyText(claims.audience, 'claims.audience'),
    act: claims.action,
    res: claims.resource,
    // Only a plain empty object means "no constraints"; anything else goes to the schema, which refuses
    // objects whose constraints would be inherited (and so silently dropped).
    con: isPlainRecord(constraints) && Object.keys(constraints).length === 0 ? undefined : constraints,
    exp: claims.expiresAt,
    nbf: claims.notBefore,
    max: claims.maxUses,
    par: claims.parentId,
    nce: claims.nonce ?? encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES))),
  };
  const parsed = bodySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = CLAIM_NAMES[String(issue?.path[0])] ?? 'claims';
    const message = `${field} is invalid: ${issue?.message ?? 'rejected'}`;
    throw issue?.code === 'too_big' || issue?.code === 'too_small' ? new RangeError(message) : new TypeError(message);
  }
  const canonicalBody = canonicalJson(parsed.data);
  const bodyBytes = utf8Encoder.encode(canonicalBody);
  const signature = signer.sign(signingMessage(bodyBytes));
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) {
    throw new TypeError('signer.sign must return a 64-byte signature');
  }
  const token = encodeBase64Url(utf8Encoder.encode(canonicalJson({ b: parsed.data, s: encodeBase64Url(signature) })));
  if (token.length > MAX_TOKEN_LENGTH) throw new RangeError(`claims make a token longer than ${MAX_TOKEN_LENGTH}`);
  return toCapability(parsed.data, bytesToHex(sha256(bodyBytes)), token);
}

const CLAIM_NAMES: Readonly<Record<string, string>> = {
  aud: 'claims.audience',
  act: 'claims.action',
  res: 'claims.resource',
  con: 'claims.constraints',
  exp: 'claims.expiresAt',
  nbf: 'claims.notBefore',
  max: 'claims.maxUses',
  par: 'claims.parentId',
  nce: 'claims.nonce',
};

function signingMessage(bodyBytes: Uint8Array): Uint8Array {
  const message = new Uint8Array(DOMAIN_BYTES.length + bodyBytes.length);
  message.set(DOMAIN_BYTES, 0);
  message.set(bodyBytes, DOMAIN_BYTES.length);
  return message;
}

function toCapability(body: Body, id: string, token: string): Capability {
  const constraints: Record<string, Constraints[string]> = {};
  for (const [name, value] of Object.entries(body.con ?? {})) {
    constraints[name] = Array.isArray(value) ? Object.freeze([...value]) : value;
  }
  return Object.freeze({
    id,
    token,
    issuer: body.iss,
    audience: body.aud,
    action: body.act,
    resource: body.res,
    constraints: Object.freeze(constraints),
    ...(body.exp === undefined ? {} : { expiresAt: body.exp }),
    ...(body.nbf === undefined ? {} : { notBefore: body.nbf }),
    ...(body.max === undefined ? {} : { maxUses: body.max }),
    ...(body.par === undefined ? {} : { parentId: body.par }),
    nonce: body.nce,
  });
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
