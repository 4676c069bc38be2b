import type { SigningKey } from '../capability/signing-key.js';
import type { ErrorCode } from '../core/errors.js';
import { type AuditCheckpoint, encodeCheckpointLine, signCheckpoint } from './checkpoint.js';
import { AuditChain } from './hash-chain.js';
import { isHashHex } from './merkle.js';
import type { AuditConsistencyProof, AuditInclusionProof } from './proof.js';
import { RecentRecords } from './recent-records.js';
import {
  AUDIT_RECORD_VERSION,
  type AuditRecord,
  type AuditRecordDraft,
  type AuditStatus,
  copyUsage,
  digestArgs,
  encodeRecordLine,
  sealDraft,
} from './record.js';

/**
 * The kernel's tamper-evident audit log (docs/architecture.md §7). `append` seals a record (assigns seq, time, prev and hash),
 * links it into its namespace's hash chain and the log-wide Merkle tree, and hands it to a sink. Every
 * `checkpointEvery` records, and on close, the log signs a checkpoint (size, Merkle root) with the kernel key
 * and hands that to the sink too. A new log signs a checkpoint of the empty tree first, so a log always has at
 * least one signed statement to be checked against.
 *
 * Appending is synchronous: when `append` returns, the record is in the sink (for the file store: buffered or
 * durable depending on its fsync policy). If the sink throws, the log is failed: that append and every later
 * call throw, because the kernel must not run effects it can no longer record.
 */

/** Where sealed records and checkpoints go. A sink serves exactly one AuditLog. */
export interface AuditSink {
  /**
   * The state of records and checkpoints already stored, for a sink that resumes an existing log (the file
   * store); absent for an empty sink. The log takes ownership of the chain.
   */
  readonly recovered?: AuditRecovered | undefined;
  /** Stores one sealed record; `line` is its canonical encoding without newline. Called in seq order. */
  appendRecord(record: AuditRecord, line: string): void;
  /** Stores one signed checkpoint; `line` is its canonical encoding without newline. */
  appendCheckpoint(checkpoint: AuditCheckpoint, line: string): void;
  /**
   * Hands what the sink buffers in this process to the OS now, without waiting for the disk (the file store's
   * write, not its fsync). Called before every effect, after its intent (`AuditLog.beforeEffect`). Optional: a sink
   * that buffers nothing in the process has nothing to hand over.
   */
  flush?(): void;
  /** Flushes and releases the sink. Called once, by AuditLog.close. */
  close(): void;
}

/** A resumed log's state: its verified chain and its checkpoints in stored order. */
export interface AuditRecovered {
  readonly chain: AuditChain;
  readonly checkpoints: readonly AuditCheckpoint[];
  /** Every label tag the recovered records carry. */
  readonly tags?: readonly string[];
}

/** The fields of a syscall attempt that the intent records. */
export interface AuditIntentEntry {
  readonly namespace: string;
  readonly agent: string;
  /** The agent's parent; null or absent for a root agent. */
  readonly parent?: string | null;
  readonly syscall: string;
  /** The tool or action (`fs.read`, `net.http`, `spawn`…). */
  readonly action: string;
  readonly resource?: string | null;
  /**
   * The syscall's arguments. Only their digest is stored (`digestArgs`); absent means no arguments and is
   * digested as `null`.
   */
  readonly args?: unknown;
  /** A digest the caller already computed with `digestArgs`; give this or `args`, not both. */
  readonly argsDigest?: string;
  /** Label tags; sorted and deduplicated by the log. */
  readonly label?: readonly string[];
}

/** The result of a syscall attempt that its outcome records. */
export interface AuditOutcomeEntry {
  readonly status: AuditStatus;
  /** Required (an ErrorCode) unless status is 'ok'. */
  readonly code?: ErrorCode | null;
  readonly durationMs: number;
  /** Quota charged (`{ cpu_ms: 3, tool_calls: 1 }`); absent means nothing charged. */
  readonly usage?: Readonly<Record<string, number>>;
  /** The label after the effect; defaults to the intent's label. */
  readonly label?: readonly string[];
}

/** Anything `append` takes: an intent, or an outcome naming its intent's seq in `ref`. */
export type AuditEntry =
  | (AuditIntentEntry & { readonly phase: 'intent' })
  | (AuditIntentEntry & Omit<AuditOutcomeEntry, 'label'> & { readonly phase: 'outcome'; readonly ref: number });

/** Options of an AuditLog. */
export interface AuditLogOptions {
  /** The kernel key that signs checkpoints. */
  readonly key: SigningKey;
  /** Where records go; default a new MemoryAuditSink. */
  readonly sink?: AuditSink;
  /** Sign a checkpoint after this many records since the last one; default 1024. */
  readonly checkpointEvery?: number;
  /** Milliseconds since the epoch, integer; default Date.now. */
  readonly clock?: () => number;
}

export const DEFAULT_CHECKPOINT_EVERY = 1024;

const EMPTY_LABEL: readonly string[] = Object.freeze([]);
const EMPTY_USAGE: Readonly<Record<string, number>> = Object.freeze({});

/**
 * The label as the record stores it: sorted, unique, frozen. A frozen array that is already in that form (an
 * intent's label reused by its outcome, a kernel constant) is kept as is; anything else is copied, so the caller
 * cannot change a sealed record through its own array.
 */
function normalizeLabel(label: readonly string[] | undefined, name: string): readonly string[] {
  if (label === undefined) return EMPTY_LABEL;
  if (!Array.isArray(label)) throw new TypeError(`${name} must be an array of strings`);
  if (label.length === 0) return EMPTY_LABEL;
  let canonical = true;
  for (let i = 0; i < label.length; i += 1) {
    const tag = label[i];
    if (typeof tag !== 'string') throw new TypeError(`${name} must be an array of strings`);
    if (i > 0 && !(label[i - 1]! < tag)) canonical = false;
  }
  // Already sorted and unique: a frozen copy is all it needs (sorting it again measured ≈ 40 ns per intent).
  if (canonical) return Object.isFrozen(label) ? label : Object.freeze([...label]);
  const sorted = [...label].sort();
  return Object.freeze(sorted.filter((tag, i) => i === 0 || tag !== sorted[i - 1]));
}

function freezeUsage(usage: Readonly<Record<string, number>> | undefined): Readonly<Record<string, number>> {
  // copyUsage never shares the caller's object with the record, and lets sealing skip re-checking the copy.
  return usage === undefined ? EMPTY_USAGE : copyUsage(usage);
}

function intentIdentity(intent: AuditRecord, label: readonly string[]): AuditIntentEntry {
  return {
    namespace: intent.namespace,
    agent: intent.agent,
    parent: intent.parent,
    syscall: intent.syscall,
    action: intent.action,
    resource: intent.resource,
    argsDigest: intent.args_sha256,
    label,
  };
}

/**
 * Records stored in memory; the default sink, and the one tests and embedders read back from. With `retain`,
 * only the most recent `retain` records are kept (a long-running host must not grow without bound; the log's
 * hash chains and Merkle tree still cover every record); without it, all of them.
 */
export class MemoryAuditSink implements AuditSink {
  readonly #records: RecentRecords;
  readonly #checkpoints: AuditCheckpoint[] = [];
  readonly #retain: number;

  /**
   * `retain` records at least while they take at most `maxBytes` of heap by estimate (RecentRecords), up to twice
   * each between trims. Throws RangeError when `retain` or `maxBytes` is not a positive integer.
   */
  constructor(options: { retain?: number; maxBytes?: number } = {}) {
    const retain = options.retain ?? Number.POSITIVE_INFINITY;
    if (retain !== Number.POSITIVE_INFINITY && (!Number.isInteger(retain) || retain < 1)) {
      throw new RangeError('retain must be a positive integer');
    }
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (maxBytes !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxBytes) || maxBytes < 1)) {
      throw new RangeError('maxBytes must be a positive integer');
    }
    this.#retain = retain;
    this.#records = new RecentRecords(retain, maxBytes);
  }

  /** The stored records in seq order (frozen objects; the array is live). */
  get records(): readonly AuditRecord[] {
    return this.#records.items;
  }

  /** The stored checkpoints in order. */
  get checkpoints(): readonly AuditCheckpoint[] {
    return this.#checkpoints;
  }

  /** Stores the record, dropping the oldest beyond `retain` (in batches, so appends stay O(1)). Never throws. */
  appendRecord(record: AuditRecord): void {
    this.#records.push(record);
    if (this.#checkpoints.length >= 2 * this.#retain)
      this.#checkpoints.splice(0, this.#checkpoints.length - this.#retain);
  }

  /** Stores the checkpoint. Never throws. */
  appendCheckpoint(checkpoint: AuditCheckpoint): void {
    this.#checkpoints.push(checkpoint);
  }

  /** Nothing to release. */
  close(): void {}

  /** The records as stored lines (the same encoding the file store writes), for verification. */
  recordLines(): string[] {
    return this.#records.items.map(encodeRecordLine);
  }

  /** The checkpoints as stored lines. */
  checkpointLines(): string[] {
    return this.#checkpoints.map(encodeCheckpointLine);
  }
}

/** The kernel's audit log. See the file comment for its guarantees. */
export class AuditLog {
  readonly #key: SigningKey;
  readonly #sink: AuditSink;
  readonly #every: number;
  readonly #clock: () => number;
  readonly #chain: AuditChain;
  readonly #checkpoints: AuditCheckpoint[];
  #anchoredSize: number;
  /** Records adopted unsigned at resumes so far: signed into every checkpoint from the first (checkpoint.ts). */
  #adopted: number;
  #closed = false;
  #failure: unknown;
  #failed = false;

  /**
   * Opens a log on `options.sink` (default: memory). A sink without recovered state gets a signed checkpoint of
   * the empty tree; a resumed sink whose last checkpoint was signed with a different interval gets a fresh
   * checkpoint, so the signed interval always bounds the unsigned tail. Throws TypeError/RangeError on bad
   * options, RangeError when a recovered sink has records but no checkpoint, and whatever the sink throws. The
   * log owns the sink only once constructed: when the constructor throws, closing the sink is the caller's job.
   */
  constructor(options: AuditLogOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { key, checkpointEvery = DEFAULT_CHECKPOINT_EVERY, clock = Date.now } = options;
    const sink: AuditSink = options.sink ?? new MemoryAuditSink();
    if (typeof key !== 'object' || key === null || typeof key.sign !== 'function') {
      throw new TypeError('options.key must be a SigningKey');
    }
    if (typeof sink !== 'object' || sink === null || typeof sink.appendRecord !== 'function') {
      throw new TypeError('options.sink must be an AuditSink');
    }
    if (!Number.isSafeInteger(checkpointEvery)) throw new TypeError('options.checkpointEvery must be an integer');
    if (checkpointEvery < 1) throw new RangeError('options.checkpointEvery must be at least 1');
    if (typeof clock !== 'function') throw new TypeError('options.clock must be a function');
    this.#key = key;
    this.#sink = sink;
    this.#every = checkpointEvery;
    this.#clock = clock;
    const recovered = sink.recovered;
    this.#chain = recovered?.chain ?? new AuditChain();
    this.#checkpoints = [...(recovered?.checkpoints ?? [])];
    const last = this.#checkpoints.at(-1);
    this.#anchoredSize = last?.size ?? 0;
    this.#adopted = last?.adopted ?? 0;
    if (last === undefined) {
      if (this.#chain.size > 0) throw new RangeError('options.sink holds records but no signed checkpoint');
      this.checkpoint();
    } else if (this.#chain.size > last.size) {
      // Records their writer never signed are adopted, and said to be, before anything is added (checkpoint.ts).
      this.#adopted += this.#chain.size - last.size;
      this.checkpoint();
    } else if (last.every !== checkpointEvery) {
      this.checkpoint();
    }
  }

  /** Number of records, which is also the next seq. */
  get size(): number {
    return this.#chain.size;
  }

  /** Number of namespaces with at least one record. */
  get namespaces(): number {
    return this.#chain.namespaces;
  }

  /** The checkpoint interval this log signs with. */
  get checkpointEvery(): number {
    return this.#every;
  }

  /** The checkpoints signed so far (recovered ones first), oldest first. */
  get checkpoints(): readonly AuditCheckpoint[] {
    return this.#checkpoints;
  }

  /** The latest signed checkpoint. */
  get latestCheckpoint(): AuditCheckpoint {
    return this.#checkpoints.at(-1)!;
  }

  /** True once `close` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  #usable(method: string): void {
    if (this.#failed) throw new Error(`AuditLog.${method}: the log failed earlier`, { cause: this.#failure });
    if (this.#closed) throw new Error(`AuditLog.${method}: the log is closed`);
  }

  #fail(error: unknown): never {
    this.#failed = true;
    this.#failure = error;
    throw error;
  }

  /**
   * Seals `entry` into the next record, links it, stores it in the sink and returns it (frozen). Signs a
   * checkpoint when `checkpointEvery` records have accumulated since the last. Guarantees: seq is the previous
   * seq + 1 (from 0), prev is the namespace's last hash, an outcome's `ref` names an open intent of the same
   * syscall. Throws TypeError/RangeError naming the field on a malformed entry (nothing is appended then); throws
   * Error when the log is closed or failed; rethrows a sink error after marking the log failed.
   */
  append(entry: AuditEntry): AuditRecord {
    if (typeof entry !== 'object' || entry === null) throw new TypeError('entry must be an object');
    if (entry.phase === 'intent') return this.#append(entry, null, null, false);
    if (entry.phase === 'outcome') return this.#append(entry, entry, entry.ref, false);
    throw new TypeError("entry.phase must be 'intent' or 'outcome'");
  }

  /** Appends the intent record of a syscall attempt. Same guarantees and throws as `append`. */
  intent(entry: AuditIntentEntry): AuditRecord {
    if (typeof entry !== 'object' || entry === null) throw new TypeError('entry must be an object');
    return this.#append(entry, null, null, false);
  }

  /**
   * Appends the outcome record of the attempt `intent` recorded, copying its identifying fields. Same guarantees
   * and throws as `append`; RangeError when `intent` is not an open intent of this log.
   */
  outcome(intent: AuditRecord, entry: AuditOutcomeEntry): AuditRecord {
    if (typeof intent !== 'object' || intent === null) throw new TypeError('intent must be an audit record');
    if (typeof entry !== 'object' || entry === null) throw new TypeError('entry must be an object');
    if (this.#chain.openIntent(intent.seq) !== intent) throw new RangeError('intent is not an open intent of this log');
    // The digest comes from a sealed intent record, so it is already known to be well-formed.
    return this.#append(intentIdentity(intent, entry.label ?? intent.label), entry, intent.seq, true);
  }

  // One path for every append. `result` is null for an intent; `ref` is the intent's seq for an outcome.
  #append(
    entry: AuditIntentEntry,
    result: AuditOutcomeEntry | null,
    ref: number | null,
    digestChecked: boolean,
  ): AuditRecord {
    this.#usable('append');
    let argsDigest: string;
    if (entry.argsDigest !== undefined) {
      if (entry.args !== undefined) throw new TypeError('entry: give args or argsDigest, not both');
      if (!digestChecked && !isHashHex(entry.argsDigest)) {
        throw new TypeError('entry.argsDigest must be 64 lowercase hex characters');
      }
      argsDigest = entry.argsDigest;
    } else {
      argsDigest = digestArgs(entry.args === undefined ? null : entry.args);
    }
    const draft: AuditRecordDraft = {
      v: AUDIT_RECORD_VERSION,
      seq: this.#chain.size,
      time: this.#clock(),
      namespace: entry.namespace,
      agent: entry.agent,
      parent: entry.parent ?? null,
      syscall: entry.syscall,
      action: entry.action,
      resource: entry.resource ?? null,
      args_sha256: argsDigest,
      label: normalizeLabel(entry.label, 'entry.label'),
      phase: result === null ? 'intent' : 'outcome',
      ref,
      status: result === null ? null : result.status,
      code: result === null ? null : (result.code ?? null),
      duration_ms: result === null ? null : result.durationMs,
      usage: result === null ? EMPTY_USAGE : freezeUsage(result.usage),
      prev: this.#chain.prevFor(entry.namespace),
      hash: '',
    };
    // prev comes from the chain and argsDigest was produced or checked above.
    const line = sealDraft(draft, true);
    const record: AuditRecord = draft;
    const checkedSize = this.#chain.size;
    const problem = this.#chain.check(record);
    if (problem !== null) throw new RangeError(`entry: ${problem}`);
    try {
      this.#sink.appendRecord(record, line);
    } catch (error) {
      this.#fail(error);
    }
    this.#chain.acceptChecked(record, checkedSize);
    if (this.#chain.size - this.#anchoredSize >= this.#every) this.checkpoint();
    return record;
  }

  /**
   * Hands the records appended so far to the OS (AuditSink.flush), so that a crash of this process from now on
   * cannot lose them: called between an intent and its effect. Under `fsync: 'interval'` a buffered intent was lost
   * with the process while its effect (a file written) stayed (red-team pass 80: 20 of 1,010 writes); whether the
   * bytes also survive the OS crashing is the fsync policy's to say. Throws Error when the log is closed or failed,
   * and rethrows a sink error after marking the log failed: the effect must not run then.
   */
  beforeEffect(): void {
    this.#usable('beforeEffect');
    if (this.#sink.flush === undefined) return;
    try {
      this.#sink.flush();
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * Merkle root over the first `size` records (default: all). Throws TypeError/RangeError when size is not in
   * [0, this.size].
   */
  root(size: number = this.size): string {
    return this.#chain.root(size);
  }

  /**
   * Signs and stores a checkpoint of the current size and root. Throws Error when the log is closed or failed,
   * and rethrows a sink error after marking the log failed.
   */
  checkpoint(): AuditCheckpoint {
    this.#usable('checkpoint');
    const size = this.#chain.size;
    const checkpoint = signCheckpoint(this.#key, {
      size,
      root: this.#chain.root(),
      time: this.#clock(),
      every: this.#every,
      ...(this.#adopted > 0 ? { adopted: this.#adopted } : {}),
    });
    try {
      this.#sink.appendCheckpoint(checkpoint, encodeCheckpointLine(checkpoint));
    } catch (error) {
      this.#fail(error);
    }
    this.#checkpoints.push(checkpoint);
    this.#anchoredSize = size;
    return checkpoint;
  }

  /**
   * Inclusion proof for record `seq`: against the latest checkpoint when it covers the record (the proof then
   * carries that checkpoint), otherwise against the current size and root (unsigned). Throws TypeError/RangeError
   * when seq is not a record of this log.
   */
  prove(seq: number): AuditInclusionProof {
    if (!Number.isSafeInteger(seq)) throw new TypeError('seq must be a safe integer');
    if (seq < 0 || seq >= this.size) throw new RangeError('seq must name a record of this log');
    const checkpoint = this.latestCheckpoint;
    if (checkpoint.size > seq) {
      const path = this.#chain.inclusionProof(seq, checkpoint.size);
      return { seq, size: checkpoint.size, root: checkpoint.root, path, checkpoint };
    }
    return { seq, size: this.size, root: this.#chain.root(), path: this.#chain.inclusionProof(seq) };
  }

  /**
   * Consistency proof from the tree of `oldSize` records to the tree of `newSize` (default: all). Throws
   * TypeError/RangeError unless 0 ≤ oldSize ≤ newSize ≤ this.size.
   */
  proveConsistency(oldSize: number, newSize: number = this.size): AuditConsistencyProof {
    const path = this.#chain.consistencyProof(oldSize, newSize);
    return { oldSize, newSize, oldRoot: this.#chain.root(oldSize), newRoot: this.#chain.root(newSize), path };
  }

  /**
   * Signs a final checkpoint when records were appended since the last one, then closes the sink. Idempotent.
   * After a failure it only closes the sink. Rethrows a sink error (the log is closed either way).
   */
  close(): void {
    if (this.#closed) return;
    try {
      if (!this.#failed && this.#chain.size > this.#anchoredSize) this.checkpoint();
    } finally {
      this.#closed = true;
      this.#sink.close();
    }
  }
}
