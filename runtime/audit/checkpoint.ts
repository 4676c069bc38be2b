import { nodeSignatureVerifier } from '../capability/node-verifier.js';
import { PUBLIC_KEY_BYTES, type SigningKey } from '../capability/signing-key.js';
import { canonicalJson } from '../core/canonical-json.js';
import { EMPTY_ROOT, isHashHex } from './merkle.js';

/**
 * A signed checkpoint of an audit log: the kernel's statement that the log's first `size` records have Merkle
 * root `root`. Checkpoints are what make rewriting the log detectable: an attacker who edits records and
 * recomputes every hash still cannot produce a matching signature.
 *
 * `every` is the checkpoint interval the writer was running with. It is signed so the verifier knows, from the
 * log itself, how many records may honestly follow the last checkpoint (at most `every`): a longer unsigned tail
 * means checkpoints were removed.
 *
 * `adopted` counts the records of the log, up to `size`, that no writer signed: the tail a crashed writer left
 * unsigned, which a kernel resuming the log adopts by signing a checkpoint over it at once. It vouches that those
 * records were there when the log was resumed, not that the kernel that wrote them wrote them so. Without it,
 * someone who could edit the files rewrote that tail, and the resuming kernel's next checkpoint anchored the
 * rewrite like any other record (red-team pass 132). The count is signed into every later checkpoint, never
 * falling, so that removing or moving the one that adopted the records does not hide them (review 135: with a
 * mark on that checkpoint alone, deleting its line made `requireAnchored` pass the rewrite). A checkpoint without
 * it says none; a log's count only rises.
 */
export interface AuditCheckpoint {
  readonly size: number;
  readonly root: string;
  /** Milliseconds since the Unix epoch when it was signed. */
  readonly time: number;
  readonly every: number;
  /** Records up to `size` adopted unsigned at resumes, a positive integer when present (see above). */
  readonly adopted?: number;
  /** Hex of the signer's raw 32-byte Ed25519 public key. */
  readonly key: string;
  /** Hex of the 64-byte Ed25519 signature over `checkpointMessage`. */
  readonly signature: string;
}

/** The fields a checkpoint signs. */
export interface CheckpointStatement {
  readonly size: number;
  readonly root: string;
  readonly time: number;
  readonly every: number;
  readonly adopted?: number;
}

/** First line of every signed checkpoint message; keeps these signatures from being valid for anything else. */
export const CHECKPOINT_DOMAIN = 'isokernel/audit-checkpoint/v1';
/**
 * First line of the message of a checkpoint with an `adopted` count (which follows `every`): neither kind of
 * signature stands for the other, so the count can be neither dropped nor added.
 */
export const ADOPTED_CHECKPOINT_DOMAIN = 'isokernel/audit-checkpoint-adopted/v2';

/** Every key of a stored checkpoint line, in canonical (sorted) order; an adopted one has `adopted` first. */
export const CHECKPOINT_KEYS = ['every', 'key', 'root', 'signature', 'size', 'time'] as const;

const HEX_KEY = /^[0-9a-f]{64}$/;
const HEX_SIGNATURE = /^[0-9a-f]{128}$/;

function checkStatement(statement: CheckpointStatement): void {
  if (typeof statement !== 'object' || statement === null) throw new TypeError('checkpoint must be an object');
  const { size, root, time, every } = statement;
  if (!Number.isSafeInteger(size)) throw new TypeError('checkpoint size must be a safe integer');
  if (size < 0) throw new RangeError('checkpoint size must not be negative');
  if (!isHashHex(root)) throw new TypeError('checkpoint root must be 64 lowercase hex characters');
  if (size === 0 && root !== EMPTY_ROOT) throw new RangeError('checkpoint root of size 0 must be the empty root');
  if (!Number.isSafeInteger(time)) throw new TypeError('checkpoint time must be a safe integer');
  if (time < 0) throw new RangeError('checkpoint time must not be negative');
  if (!Number.isSafeInteger(every)) throw new TypeError('checkpoint every must be a safe integer');
  if (every < 1) throw new RangeError('checkpoint every must be at least 1');
  const { adopted } = statement;
  if (adopted !== undefined) {
    if (!Number.isSafeInteger(adopted)) throw new TypeError('checkpoint adopted must be a safe integer when present');
    if (adopted < 1 || adopted > size) throw new RangeError('checkpoint adopted must be between 1 and its size');
  }
}

/**
 * The exact bytes a checkpoint signature covers: the domain line, then size, root, time, every and (with its own
 * domain) the adopted count, one per line. Throws TypeError/RangeError naming the field when the statement is
 * malformed.
 */
export function checkpointMessage(statement: CheckpointStatement): Uint8Array {
  checkStatement(statement);
  const { size, root, time, every, adopted } = statement;
  const body = `${size}\n${root}\n${time}\n${every}\n`;
  const text =
    adopted === undefined ? `${CHECKPOINT_DOMAIN}\n${body}` : `${ADOPTED_CHECKPOINT_DOMAIN}\n${body}${adopted}\n`;
  return Buffer.from(text, 'utf8');
}

/**
 * Signs `statement` with `key` and returns the frozen checkpoint. Throws TypeError/RangeError when the statement
 * is malformed or `key` is not a SigningKey.
 */
export function signCheckpoint(key: SigningKey, statement: CheckpointStatement): AuditCheckpoint {
  if (typeof key !== 'object' || key === null || typeof key.sign !== 'function') {
    throw new TypeError('key must be a SigningKey');
  }
  const message = checkpointMessage(statement);
  return Object.freeze({
    size: statement.size,
    root: statement.root,
    time: statement.time,
    every: statement.every,
    ...(statement.adopted === undefined ? {} : { adopted: statement.adopted }),
    key: Buffer.from(key.publicKey).toString('hex'),
    signature: Buffer.from(key.sign(message)).toString('hex'),
  });
}

/**
 * True when the checkpoint is well-formed and its signature verifies under its own `key`, with the same key
 * and signature checks as capability tokens (runtime/core/ed25519-rule.ts: a small-order or non-canonical
 * key, or a signature with a small-order R or S ≥ L, never verifies, so nobody can sign "for" such a key
 * without its private key). Says nothing about whether that key is trusted: compare `checkpoint.key` against
 * pinned keys (see `trustedKeySet`). Never throws.
 */
export function verifyCheckpointSignature(checkpoint: AuditCheckpoint): boolean {
  if (typeof checkpoint !== 'object' || checkpoint === null) return false;
  const { key, signature } = checkpoint;
  if (typeof key !== 'string' || !HEX_KEY.test(key)) return false;
  if (typeof signature !== 'string' || !HEX_SIGNATURE.test(signature)) return false;
  let message: Uint8Array;
  try {
    message = checkpointMessage(checkpoint);
  } catch {
    return false;
  }
  return nodeSignatureVerifier(
    new Uint8Array(Buffer.from(key, 'hex')),
    message,
    new Uint8Array(Buffer.from(signature, 'hex')),
  );
}

/**
 * Normalizes trusted public keys (raw 32-byte Uint8Array or 64-character hex) to a set of lowercase hex.
 * Throws TypeError/RangeError naming `trustedKeys` when an entry is neither.
 */
export function trustedKeySet(trustedKeys: readonly (Uint8Array | string)[]): ReadonlySet<string> {
  if (!Array.isArray(trustedKeys)) throw new TypeError('trustedKeys must be an array');
  const set = new Set<string>();
  for (const key of trustedKeys) {
    if (key instanceof Uint8Array) {
      if (key.length !== PUBLIC_KEY_BYTES)
        throw new RangeError(`trustedKeys entries must be ${PUBLIC_KEY_BYTES} bytes`);
      set.add(Buffer.from(key).toString('hex'));
    } else if (typeof key === 'string') {
      const lower = key.toLowerCase();
      if (!HEX_KEY.test(lower)) throw new RangeError('trustedKeys hex entries must be 64 hex characters');
      set.add(lower);
    } else {
      throw new TypeError('trustedKeys entries must be Uint8Array or hex strings');
    }
  }
  return set;
}

/** The stored line of a checkpoint: its canonical JSON, no trailing newline. Throws TypeError on a bad value. */
export function encodeCheckpointLine(checkpoint: AuditCheckpoint): string {
  const { adopted, every, key, root, signature, size, time } = checkpoint;
  return canonicalJson({ ...(adopted === undefined ? {} : { adopted }), every, key, root, signature, size, time });
}

/** Result of parsing one stored checkpoint line. `reason` is fixed text and never quotes the line. */
export type ParsedCheckpointLine =
  | { readonly ok: true; readonly checkpoint: AuditCheckpoint }
  | { readonly ok: false; readonly reason: string };

/**
 * Parses one stored checkpoint line strictly (exactly CHECKPOINT_KEYS, valid values, canonical encoding) and
 * checks its signature under its own key. Does not decide whether the key is trusted. Never throws on bad input;
 * throws TypeError only when `line` is not a string.
 */
export function parseCheckpointLine(line: string): ParsedCheckpointLine {
  if (typeof line !== 'string') throw new TypeError('parseCheckpointLine: line must be a string');
  if (line.length > 4096) return { ok: false, reason: 'checkpoint line is too long' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'checkpoint line is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'checkpoint line is not a JSON object' };
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  const adopted = Object.hasOwn(record, 'adopted');
  if (
    keys.length !== CHECKPOINT_KEYS.length + (adopted ? 1 : 0) ||
    !CHECKPOINT_KEYS.every((key) => Object.hasOwn(record, key))
  ) {
    return { ok: false, reason: 'checkpoint has missing or extra fields' };
  }
  const checkpoint = Object.freeze({
    size: record['size'],
    root: record['root'],
    time: record['time'],
    every: record['every'],
    ...(adopted ? { adopted: record['adopted'] } : {}),
    key: record['key'],
    signature: record['signature'],
  }) as AuditCheckpoint;
  try {
    checkStatement(checkpoint);
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : 'checkpoint is invalid' };
  }
  if (typeof checkpoint.key !== 'string' || !HEX_KEY.test(checkpoint.key)) {
    return { ok: false, reason: 'checkpoint key must be 64 lowercase hex characters' };
  }
  if (typeof checkpoint.signature !== 'string' || !HEX_SIGNATURE.test(checkpoint.signature)) {
    return { ok: false, reason: 'checkpoint signature must be 128 lowercase hex characters' };
  }
  if (encodeCheckpointLine(checkpoint) !== line) {
    return { ok: false, reason: 'checkpoint line is not the canonical encoding of its checkpoint' };
  }
  if (!verifyCheckpointSignature(checkpoint)) return { ok: false, reason: 'checkpoint signature does not verify' };
  return { ok: true, checkpoint };
}
