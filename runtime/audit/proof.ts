import { type AuditCheckpoint, trustedKeySet, verifyCheckpointSignature } from './checkpoint.js';
import { verifyConsistency, verifyInclusion } from './merkle.js';
import { type AuditRecord, recordLeafHash } from './record.js';

/**
 * Proofs an AuditLog hands out (`prove`, `proveConsistency`) and the checks a third party runs on them. Every
 * check recomputes what it can instead of trusting the proof: a record's leaf comes from its fields, not its
 * `hash`; a checkpoint counts only if its signature verifies (and, with pinned keys, its signer is trusted).
 */

/** Proof that a record is leaf `seq` of the log's tree of `size` records with root `root`. */
export interface AuditInclusionProof {
  readonly seq: number;
  readonly size: number;
  readonly root: string;
  readonly path: readonly string[];
  /** The signed checkpoint that vouches for `root`, when one covers the record. */
  readonly checkpoint?: AuditCheckpoint;
}

/** Proof that the log's tree of `newSize` records extends its tree of `oldSize` records. */
export interface AuditConsistencyProof {
  readonly oldSize: number;
  readonly newSize: number;
  readonly oldRoot: string;
  readonly newRoot: string;
  readonly path: readonly string[];
}

/** Options for checking proofs against pinned keys. */
export interface AuditTrustOptions {
  /** Kernel public keys (raw 32 bytes or hex) whose checkpoints are trusted. */
  readonly trustedKeys?: readonly (Uint8Array | string)[];
}

function keyTrusted(checkpoint: AuditCheckpoint, options: AuditTrustOptions | undefined): boolean {
  if (options?.trustedKeys === undefined) return true;
  return trustedKeySet(options.trustedKeys).has(checkpoint.key);
}

/**
 * True when `proof` shows that `record`, with its fields as they are now (its hash is recomputed, not trusted),
 * is leaf `proof.seq` of a tree with root `proof.root`. When the proof carries a checkpoint, that checkpoint must
 * verify and match the proof's size and root. With `trustedKeys`, a checkpoint signed by one of them is
 * required. A checkpoint with an `adopted` count vouches for a log some of whose records no writer signed (a
 * resumed crash, checkpoint.ts): the record is in the tree, not necessarily as its writer wrote it. Never throws on malformed records or proofs (false); throws TypeError/RangeError only for malformed
 * `options.trustedKeys`.
 */
export function verifyRecordInclusion(
  record: AuditRecord,
  proof: AuditInclusionProof,
  options?: AuditTrustOptions,
): boolean {
  if (options?.trustedKeys !== undefined) trustedKeySet(options.trustedKeys);
  // Each field is read once, from plain copies: a getter that throws is a malformed argument (false), and one that
  // answers differently on a second read cannot make the hash and the comparisons see different values.
  const given = plainCopy(record);
  const claimed = plainCopy(proof);
  if (given === undefined || claimed === undefined) return false;
  const { seq, size, root, path } = claimed;
  const checkpoint = claimed.checkpoint === undefined ? undefined : plainCopy(claimed.checkpoint);
  if (claimed.checkpoint !== undefined && checkpoint === undefined) return false;
  let leaf: string;
  try {
    leaf = recordLeafHash(given);
  } catch {
    return false;
  }
  if (given.seq !== seq) return false;
  if (!verifyInclusion(leaf, seq, size, path, root)) return false;
  if (checkpoint === undefined) return options?.trustedKeys === undefined;
  return (
    verifyCheckpointSignature(checkpoint) &&
    checkpoint.size === size &&
    checkpoint.root === root &&
    keyTrusted(checkpoint, options)
  );
}

/**
 * True when `path` proves that the log signed in `newer` extends the log signed in `older`: both signatures
 * verify (and, with `trustedKeys`, come from trusted keys) and the RFC 9162 consistency check passes. This is how
 * a monitor that kept an old checkpoint detects a rewritten history. Never throws on malformed checkpoints or
 * paths (false); throws TypeError/RangeError only for malformed `options.trustedKeys`.
 */
export function verifyCheckpointConsistency(
  older: AuditCheckpoint,
  newer: AuditCheckpoint,
  path: readonly string[],
  options?: AuditTrustOptions,
): boolean {
  if (options?.trustedKeys !== undefined) trustedKeySet(options.trustedKeys);
  const before = plainCopy(older);
  const after = plainCopy(newer);
  if (before === undefined || after === undefined) return false;
  if (!verifyCheckpointSignature(before) || !verifyCheckpointSignature(after)) return false;
  if (!keyTrusted(before, options) || !keyTrusted(after, options)) return false;
  return verifyConsistency(before.size, after.size, before.root, after.root, path);
}

/**
 * True when `proof` is a valid RFC 9162 consistency proof between its two (unsigned) roots. Never throws.
 */
export function verifyAuditConsistency(proof: AuditConsistencyProof): boolean {
  const claimed = plainCopy(proof);
  if (claimed === undefined) return false;
  // merkle.ts copies the path itself, reading each element once.
  return verifyConsistency(claimed.oldSize, claimed.newSize, claimed.oldRoot, claimed.newRoot, claimed.path);
}

/** A plain copy of an object's own enumerable fields, each read once; undefined for a non-object or a throw. */
function plainCopy<T extends object>(value: T): T | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  try {
    return { ...value };
  } catch {
    return undefined;
  }
}
