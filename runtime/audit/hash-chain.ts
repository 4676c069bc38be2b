import { appendComputedLeaf, MerkleTree } from './merkle.js';
import { type AuditRecord, GENESIS_PREV } from './record.js';

/**
 * The linking rules of an audit log and the state they need: the next seq, the last hash of every namespace,
 * the intents still waiting for their outcome, and the Merkle tree over every record in seq order.
 *
 * The writer (AuditLog), the file store's recovery and the verifier all extend a log through `check` and
 * `accept`, so a log the writer can produce is exactly a log the verifier accepts.
 *
 * Rules a record must satisfy to extend the chain:
 * - its seq is the number of records before it (seqs are 0, 1, 2… with no gap, duplicate or reordering);
 * - its prev is the hash of the previous record in its namespace, or GENESIS_PREV for the namespace's first;
 * - an outcome's ref names an earlier intent that has no outcome yet, from the same namespace, agent, parent,
 *   syscall, action, resource and arguments (the label may differ: it can rise during the effect).
 *
 * Intents whose outcome never came (the kernel died during the effect) stay open; that is not an error.
 */
export class AuditChain {
  readonly #tree = new MerkleTree();
  readonly #heads = new Map<string, string>();
  readonly #open = new Map<number, AuditRecord>();
  // The newest open intent, kept out of #open: an outcome usually follows its own intent, and the Map insert and
  // delete per pair (plus the rehashing their churn causes) cost more than this slot. Older open intents are in
  // #open; together the two hold exactly the open intents.
  #newestOpen: AuditRecord | undefined;

  /** Number of records accepted, which is also the next seq. */
  get size(): number {
    return this.#tree.size;
  }

  /** Number of distinct namespaces seen. */
  get namespaces(): number {
    return this.#heads.size;
  }

  /** Number of intents without an outcome. */
  get openIntents(): number {
    return this.#open.size + (this.#newestOpen === undefined ? 0 : 1);
  }

  /** The `prev` the next record in `namespace` must carry. Never throws. */
  prevFor(namespace: string): string {
    return this.#heads.get(namespace) ?? GENESIS_PREV;
  }

  /** The open intent with seq `ref`, if any. Never throws. */
  openIntent(ref: number): AuditRecord | undefined {
    const newest = this.#newestOpen;
    return newest !== undefined && newest.seq === ref ? newest : this.#open.get(ref);
  }

  /**
   * Why `record` cannot extend the chain, or null when it can. Assumes the record itself is valid (it came from
   * `sealRecord` or `parseRecordLine`, which check fields and recompute the hash). Never throws. The reason is
   * fixed text and never quotes record contents.
   */
  check(record: AuditRecord): string | null {
    if (record.seq !== this.size) return `expected seq ${this.size}`;
    if (record.prev !== this.prevFor(record.namespace)) {
      return 'prev does not match the previous record of its namespace';
    }
    if (record.phase === 'outcome') {
      const intent = this.openIntent(record.ref as number);
      if (intent === undefined) return 'ref does not name an open intent';
      if (
        intent.namespace !== record.namespace ||
        intent.agent !== record.agent ||
        intent.parent !== record.parent ||
        intent.syscall !== record.syscall ||
        intent.action !== record.action ||
        intent.resource !== record.resource ||
        intent.args_sha256 !== record.args_sha256
      ) {
        return 'outcome does not match its intent';
      }
    }
    return null;
  }

  /**
   * Extends the chain with `record`. The caller must have had `check(record)` return null; this re-checks and
   * throws RangeError (with the same reason) when it did not, so a broken chain can never be built.
   */
  accept(record: AuditRecord): void {
    const problem = this.check(record);
    if (problem !== null) throw new RangeError(`audit chain: ${problem}`);
    this.#link(record);
  }

  /**
   * `accept` for a record that `check` passed when the chain had `checkedSize` records. Only `accept` and this
   * change the chain, and each adds a record, so an unchanged size means that check still holds: this skips
   * repeating it (the log's append path checks before its sink and links after). Throws RangeError when the
   * chain grew in between (a sink that appended from inside its own call), so a broken chain can never be built.
   */
  acceptChecked(record: AuditRecord, checkedSize: number): void {
    if (checkedSize !== this.size) throw new RangeError(`audit chain: expected seq ${this.size}`);
    this.#link(record);
  }

  #link(record: AuditRecord): void {
    // A v2 record's hash is its leaf; a v1 record's leaf is H(0x00 ‖ hash) (record.ts, `recordLeaf`). Records
    // reach the chain sealed or parsed, so their hash was computed here, not taken from input.
    if (record.v === 1) this.#tree.appendDigest(record.hash);
    else appendComputedLeaf(this.#tree, record.hash);
    this.#heads.set(record.namespace, record.hash);
    const newest = this.#newestOpen;
    if (record.phase === 'intent') {
      if (newest !== undefined) this.#open.set(newest.seq, newest);
      this.#newestOpen = record;
    } else if (newest !== undefined && newest.seq === record.ref) {
      this.#newestOpen = undefined;
    } else {
      this.#open.delete(record.ref as number);
    }
  }

  /** Merkle root over the first `size` records (default: all). Throws RangeError when size > this.size. */
  root(size: number = this.size): string {
    return this.#tree.root(size);
  }

  /** Merkle leaf hash of record `seq`. Throws RangeError when seq is not a stored record. */
  leaf(seq: number): string {
    return this.#tree.leaf(seq);
  }

  /** Merkle audit path for record `seq` in the tree of `size` records. Throws like MerkleTree.inclusionProof. */
  inclusionProof(seq: number, size: number = this.size): string[] {
    return this.#tree.inclusionProof(seq, size);
  }

  /** Merkle consistency proof between two sizes. Throws like MerkleTree.consistencyProof. */
  consistencyProof(oldSize: number, newSize: number = this.size): string[] {
    return this.#tree.consistencyProof(oldSize, newSize);
  }
}
