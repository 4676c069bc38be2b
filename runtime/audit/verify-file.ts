import { existsSync } from 'node:fs';
import { type AuditCheckpoint, encodeCheckpointLine, parseCheckpointLine, trustedKeySet } from './checkpoint.js';
import { AuditChain } from './hash-chain.js';
import { type LineScan, scanLines } from './lines.js';
import { MAX_RECORD_LINE_LENGTH, parseRecordLine } from './record.js';

/**
 * Offline verification of an audit log (records JSONL plus its checkpoints JSONL). Fails closed: the report is
 * ok only when
 * - both files exist and every complete line parses strictly (exact fields, canonical encoding, valid values);
 * - seqs run 0, 1, 2… without gap, duplicate or reordering, every record's hash recomputes, every namespace's
 *   prev links to its previous record, and every outcome answers an open intent of the same syscall;
 * - there is at least one checkpoint, checkpoint sizes never decrease, every checkpoint signature verifies, and
 *   every checkpoint's root equals the Merkle root recomputed over that many records;
 * - no checkpoint covers more records than the file holds (a truncated tail);
 * - with `trustedKeys`, every checkpoint is signed by one of them; without, all are signed by one key (reported
 *   in `keys`, `pinned: false`): only pinned keys catch an attacker who rewrites the log and re-signs it.
 *
 * Records after the last checkpoint ("unanchored") are checked for chain integrity and counted in `unanchored`;
 * they cannot be protected by a signature that does not exist yet. A writer signs at least every `every` records
 * and states `every` in the signed checkpoint, so more than `every` unanchored records means checkpoints were
 * removed and fails. `requireAnchored` fails on any unanchored record (a log that was closed cleanly has none), and
 * on any adopted record (counted in `adopted`, signed into every checkpoint after a resume: the resuming kernel's
 * word that the records its crashed writer never signed were there; a rewrite of that tail before the resume is not
 * caught).
 *
 * Bytes after the last newline (a torn write) are not records: they are ignored and counted in `tornBytes`, the
 * same way the file store's recovery truncates them. If they held a checkpointed record, the truncation check
 * fails.
 */

export interface AuditVerifyOptions {
  /** Kernel public keys (raw 32 bytes or hex) whose checkpoints are trusted. */
  readonly trustedKeys?: readonly (Uint8Array | string)[];
  /** Fail when any record follows the last checkpoint. Default false. */
  readonly requireAnchored?: boolean;
  /** Path of the checkpoints file; default `${path}.checkpoints`. */
  readonly checkpointPath?: string;
  /**
   * Checkpoints obtained earlier from outside the file (a monitor, a published tree head). Each must verify,
   * satisfy the key policy, and match the log at its size like a stored checkpoint; this is what catches a log
   * cut back to an older state together with its checkpoints file.
   */
  readonly anchors?: readonly AuditCheckpoint[];
}

export interface AuditVerifySuccess {
  readonly ok: true;
  readonly records: number;
  readonly namespaces: number;
  readonly checkpoints: number;
  /** Records covered by the last checkpoint. */
  readonly anchored: number;
  /** Records after the last checkpoint (chain-checked, not signed). */
  readonly unanchored: number;
  /** Records anchored only by an `adopted` checkpoint: unsigned by their writer, adopted when the log was resumed. */
  readonly adopted: number;
  /** Intents without an outcome (the kernel stopped during their effect). */
  readonly openIntents: number;
  /** Bytes of a torn last line, ignored. */
  readonly tornBytes: number;
  /** Merkle root over all records. */
  readonly root: string;
  /** Hex public keys that signed the checkpoints. */
  readonly keys: readonly string[];
  /** True when the keys were checked against `trustedKeys`. */
  readonly pinned: boolean;
}

export interface AuditVerifyFailure {
  readonly ok: false;
  /**
   * The first seq that cannot be vouched for: the bad record's seq, or for a checkpoint problem the size of the
   * last checkpoint that did verify (records before it are intact). Null when the files cannot be read at all.
   */
  readonly seq: number | null;
  /** Fixed text; never quotes file contents. */
  readonly reason: string;
}

export type AuditVerifyReport = AuditVerifySuccess | AuditVerifyFailure;

/** Key policy: pinned to a set, one key whatever it is, or any valid signature (file-store recovery). */
export type AuditKeyPolicy =
  | { readonly kind: 'pinned'; readonly keys: ReadonlySet<string> }
  | { readonly kind: 'single' }
  | { readonly kind: 'any' };

const failure = (seq: number | null, reason: string): AuditVerifyFailure => ({ ok: false, seq, reason });

/**
 * Parses checkpoint lines and checks them as a sequence (non-decreasing sizes, keys per `policy`). Returns the
 * checkpoints, a repeated line once, or a failure. Never throws.
 */
export function checkCheckpointLines(
  lines: Iterable<string>,
  policy: AuditKeyPolicy,
): { readonly ok: true; readonly checkpoints: AuditCheckpoint[] } | AuditVerifyFailure {
  const sequence = new CheckpointSequence(policy);
  for (const line of lines) {
    const problem = sequence.feed(line);
    if (problem !== undefined) return problem;
  }
  return { ok: true, checkpoints: sequence.checkpoints };
}

/**
 * Reads and checks the checkpoints file at `path` one line at a time, as `checkCheckpointLines` does, keeping only
 * the checkpoints it accepts. Throws the fs error when the file cannot be read (scanLines). Never throws on content.
 */
export function readCheckpointFile(
  path: string,
  policy: AuditKeyPolicy,
): {
  readonly checked: { readonly ok: true; readonly checkpoints: AuditCheckpoint[] } | AuditVerifyFailure;
  readonly scan: LineScan;
} {
  const sequence = new CheckpointSequence(policy);
  let problem: AuditVerifyFailure | undefined;
  const scan = scanLines(path, 4096, (line) => {
    problem = sequence.feed(line);
    return problem === undefined;
  });
  if (problem !== undefined) return { checked: problem, scan };
  if (scan.error !== undefined) {
    return { checked: failure(0, `checkpoint ${scan.error.index + 1}: ${scan.error.reason}`), scan };
  }
  return { checked: { ok: true, checkpoints: sequence.checkpoints }, scan };
}

/**
 * Checkpoint lines checked as they come: each is parsed and its signature checked, except a copy of a line already
 * accepted at the current size, which vouches for nothing new and is neither checked again nor kept (a file padded
 * with 20,000 copies of one genuine line cost a verify, and every kernel start on the log, 2.1 s, pass 132 F6; kept,
 * a million copies cost a start 400 MB and 13 million aborted it, review 135). A copy of a line of a smaller size
 * still fails the order check.
 */
class CheckpointSequence {
  readonly checkpoints: AuditCheckpoint[] = [];
  readonly #policy: AuditKeyPolicy;
  #goodSize = 0;
  #number = 0;
  #atSize = new Set<string>();
  #adopted = 0;

  constructor(policy: AuditKeyPolicy) {
    this.#policy = policy;
  }

  /** Checks the next line; the failure, if it breaks the sequence. Never throws. */
  feed(line: string): AuditVerifyFailure | undefined {
    this.#number += 1;
    if (this.#atSize.has(line)) return undefined;
    const goodSize = this.#goodSize;
    const number = this.#number;
    const parsed = parseCheckpointLine(line);
    if (!parsed.ok) return failure(goodSize, `checkpoint ${number}: ${parsed.reason}`);
    const { checkpoint } = parsed;
    if (checkpoint.size < goodSize) return failure(goodSize, `checkpoint ${number}: size is smaller than before`);
    // A log's adopted count only rises, and by no more than the records since the checkpoint before.
    const count = checkpoint.adopted ?? 0;
    if (count < this.#adopted) return failure(goodSize, `checkpoint ${number}: adopted count is smaller than before`);
    if (count - this.#adopted > checkpoint.size - goodSize) {
      return failure(goodSize, `checkpoint ${number}: adopted count grew by more than the records since the last`);
    }
    const policy = this.#policy;
    if (policy.kind === 'pinned' && !policy.keys.has(checkpoint.key)) {
      return failure(goodSize, `checkpoint ${number}: signed by an untrusted key`);
    }
    const first = this.checkpoints[0];
    if (policy.kind === 'single' && first !== undefined && checkpoint.key !== first.key) {
      return failure(goodSize, `checkpoint ${number}: signed by a different key than checkpoint 1 (pass trustedKeys)`);
    }
    this.#adopted = count;
    if (checkpoint.size > goodSize) this.#atSize = new Set();
    this.#atSize.add(line);
    this.checkpoints.push(checkpoint);
    this.#goodSize = checkpoint.size;
    return undefined;
  }
}

/**
 * Replays records against their checkpoints, one line at a time. Used by the verifier and by the file store's
 * recovery, so a log the store resumes is a log the verifier accepts.
 */
export class AuditReplay {
  readonly chain = new AuditChain();
  /** Every tag of every record replayed so far (a resumed log's readers are raised by them, see AuditView). */
  readonly tags = new Set<string>();
  readonly #checkpoints: readonly AuditCheckpoint[];
  readonly #requireAnchored: boolean;
  readonly #pinned: boolean;
  #next = 0;
  #goodSize = 0;
  #failure: AuditVerifyFailure | undefined;

  /** `checkpoints` must come from `checkCheckpointLines`. Never throws. */
  constructor(checkpoints: readonly AuditCheckpoint[], options: { requireAnchored: boolean; pinned: boolean }) {
    this.#checkpoints = checkpoints;
    this.#requireAnchored = options.requireAnchored;
    this.#pinned = options.pinned;
    if (checkpoints.length === 0) this.#failure = failure(0, 'there is no signed checkpoint');
    else this.#matchCheckpoints();
  }

  /** The failure so far, if any. */
  get failure(): AuditVerifyFailure | undefined {
    return this.#failure;
  }

  /** Checks and adds the next record line; false (and `failure` set) when it breaks the log. Never throws. */
  feed(line: string): boolean {
    if (this.#failure !== undefined) return false;
    const seq = this.chain.size;
    const parsed = parseRecordLine(line);
    if (!parsed.ok) return this.#fail(seq, `record ${seq}: ${parsed.reason}`);
    const problem = this.chain.check(parsed.record);
    if (problem !== null) return this.#fail(seq, `record ${seq}: ${problem}`);
    this.chain.accept(parsed.record);
    for (const tag of parsed.record.label) this.tags.add(tag);
    return this.#matchCheckpoints();
  }

  /** Records a failure found outside the replay (an unreadable line). Never throws. */
  reject(seq: number, reason: string): void {
    this.#fail(seq, reason);
  }

  /** The final report once every line was fed. `tornBytes` is passed through. Never throws. */
  finish(tornBytes: number): AuditVerifyReport {
    if (this.#failure !== undefined) return this.#failure;
    const size = this.chain.size;
    const pending = this.#checkpoints[this.#next];
    if (pending !== undefined) {
      return failure(
        size,
        `log truncated: checkpoint ${this.#next + 1} covers ${pending.size} records, the log has ${size}`,
      );
    }
    const last = this.#checkpoints.at(-1)!;
    const unanchored = size - last.size;
    if (unanchored > last.every) {
      return failure(
        last.size,
        `${unanchored} records follow the last checkpoint but it was signed with an interval of ${last.every}: checkpoints were removed`,
      );
    }
    if (this.#requireAnchored && unanchored > 0) {
      return failure(last.size, `${unanchored} records follow the last checkpoint and anchoring is required`);
    }
    // Counts never fall (checkCheckpointLines), so the last checkpoint's is the log's, and the records adopted
    // first are at or after the last checkpoint without one.
    const adopted = last.adopted ?? 0;
    if (this.#requireAnchored && adopted > 0) {
      const before = this.#checkpoints.findLast((checkpoint) => checkpoint.adopted === undefined);
      return failure(
        before?.size ?? 0,
        `${adopted} records were never signed by their writer (adopted when the log was resumed) and anchoring is required`,
      );
    }
    return {
      ok: true,
      records: size,
      namespaces: this.chain.namespaces,
      checkpoints: this.#checkpoints.length,
      anchored: last.size,
      unanchored,
      adopted,
      openIntents: this.chain.openIntents,
      tornBytes,
      root: this.chain.root(),
      keys: [...new Set(this.#checkpoints.map((checkpoint) => checkpoint.key))],
      pinned: this.#pinned,
    };
  }

  #fail(seq: number, reason: string): false {
    this.#failure ??= failure(seq, reason);
    return false;
  }

  #matchCheckpoints(): boolean {
    const size = this.chain.size;
    for (let next = this.#checkpoints[this.#next]; next !== undefined && next.size === size; ) {
      if (next.root !== this.chain.root()) {
        return this.#fail(
          this.#goodSize,
          `checkpoint ${this.#next + 1} (size ${size}) does not match the records: the log was altered at or after seq ${this.#goodSize}`,
        );
      }
      this.#goodSize = size;
      this.#next += 1;
      next = this.#checkpoints[this.#next];
    }
    return true;
  }
}

/**
 * Merges externally held anchors into the stored checkpoints in size order (stored order is kept for equal
 * sizes). Returns a failure when an anchor is malformed, does not verify or fails the key policy. Never throws.
 */
function withAnchors(
  stored: readonly AuditCheckpoint[],
  anchors: readonly AuditCheckpoint[] | undefined,
  policy: AuditKeyPolicy,
): { readonly ok: true; readonly checkpoints: AuditCheckpoint[] } | AuditVerifyFailure {
  if (anchors === undefined || anchors.length === 0) return { ok: true, checkpoints: [...stored] };
  const lines: { size: unknown; line: string }[] = [];
  for (const anchor of anchors) {
    try {
      lines.push({ size: anchor.size, line: encodeCheckpointLine(anchor) });
    } catch {
      return failure(null, 'an anchor checkpoint is malformed');
    }
  }
  // Strict parsing below rejects any anchor whose size is not a number, so the order only matters for valid ones.
  lines.sort((a, b) => Number(a.size) - Number(b.size));
  const checked = checkCheckpointLines(
    lines.map((entry) => entry.line),
    policy,
  );
  if (!checked.ok) return failure(null, `anchor ${checked.reason}`);
  const merged = [...stored, ...checked.checkpoints].sort((a, b) => a.size - b.size);
  if (policy.kind === 'single' && new Set(merged.map((c) => c.key)).size > 1) {
    return failure(null, 'anchors and stored checkpoints are signed by different keys (pass trustedKeys)');
  }
  return { ok: true, checkpoints: merged };
}

/** Builds the key policy from options. Throws TypeError/RangeError on malformed `trustedKeys`. */
export function keyPolicy(trustedKeys: readonly (Uint8Array | string)[] | undefined): AuditKeyPolicy {
  return trustedKeys === undefined ? { kind: 'single' } : { kind: 'pinned', keys: trustedKeySet(trustedKeys) };
}

function checkOptions(options: AuditVerifyOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (options.requireAnchored !== undefined && typeof options.requireAnchored !== 'boolean') {
    throw new TypeError('options.requireAnchored must be a boolean');
  }
  if (
    options.checkpointPath !== undefined &&
    (typeof options.checkpointPath !== 'string' || options.checkpointPath === '')
  ) {
    throw new TypeError('options.checkpointPath must be a non-empty string');
  }
  if (options.anchors !== undefined && !Array.isArray(options.anchors)) {
    throw new TypeError('options.anchors must be an array of checkpoints');
  }
}

/**
 * Verifies records and checkpoints given as lines (no newlines), e.g. from a MemoryAuditSink. Same rules as
 * `verifyAuditFile` except that there is no torn tail. Never throws on bad content; throws TypeError/RangeError
 * on malformed options.
 */
export function verifyAuditLines(
  recordLines: Iterable<string>,
  checkpointLines: Iterable<string>,
  options: AuditVerifyOptions = {},
): AuditVerifyReport {
  checkOptions(options);
  const stored = checkCheckpointLines(checkpointLines, keyPolicy(options.trustedKeys));
  if (!stored.ok) return stored;
  return verifyRecordLines(recordLines, stored.checkpoints, options);
}

/**
 * `verifyAuditLines` for checkpoints already checked (`readCheckpointFile` or `checkCheckpointLines` under the
 * policy of `options.trustedKeys`), so that their signatures are not checked twice. Same throws.
 */
export function verifyRecordLines(
  recordLines: Iterable<string>,
  stored: readonly AuditCheckpoint[],
  options: AuditVerifyOptions = {},
): AuditVerifyReport {
  checkOptions(options);
  const policy = keyPolicy(options.trustedKeys);
  const checked = withAnchors(stored, options.anchors, policy);
  if (!checked.ok) return checked;
  const replay = new AuditReplay(checked.checkpoints, {
    requireAnchored: options.requireAnchored ?? false,
    pinned: options.trustedKeys !== undefined,
  });
  for (const line of recordLines) {
    if (typeof line !== 'string' || !replay.feed(line)) break;
  }
  return replay.finish(0);
}

function readErrorReason(error: unknown, what: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' ? `${what} is missing` : `${what} cannot be read (${code ?? 'error'})`;
}

/**
 * Verifies the audit log at `path` and its checkpoints (default `${path}.checkpoints`) as described in the file
 * comment. Synchronous; reads both files in chunks. Never throws on missing, unreadable or tampered files (they
 * give `ok: false`); throws TypeError/RangeError on malformed arguments.
 */
export function verifyAuditFile(path: string, options: AuditVerifyOptions = {}): AuditVerifyReport {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  checkOptions(options);
  const policy = keyPolicy(options.trustedKeys);
  const checkpointPath = options.checkpointPath ?? `${path}.checkpoints`;
  if (!existsSync(path)) return failure(null, 'audit log file is missing');
  let stored: ReturnType<typeof readCheckpointFile>['checked'];
  try {
    stored = readCheckpointFile(checkpointPath, policy).checked;
  } catch (error) {
    return failure(null, readErrorReason(error, 'checkpoint file'));
  }
  if (!stored.ok) return stored;
  const checked = withAnchors(stored.checkpoints, options.anchors, policy);
  if (!checked.ok) return checked;
  const replay = new AuditReplay(checked.checkpoints, {
    requireAnchored: options.requireAnchored ?? false,
    pinned: options.trustedKeys !== undefined,
  });
  let scan: ReturnType<typeof scanLines>;
  try {
    scan = scanLines(path, MAX_RECORD_LINE_LENGTH * 4, (line) => replay.feed(line));
  } catch (error) {
    return failure(null, readErrorReason(error, 'audit log file'));
  }
  if (scan.error !== undefined) replay.reject(scan.error.index, `record ${scan.error.index}: ${scan.error.reason}`);
  return replay.finish(scan.tornBytes);
}
