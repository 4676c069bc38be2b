import { hash } from 'node:crypto';

/**
 * An RFC 6962 / RFC 9162 Merkle tree over SHA-256 (leaf hash H(0x00 ‖ d), node hash H(0x01 ‖ l ‖ r), split
 * at the largest power of two smaller than the size), plus the RFC 9162 §2.1.3.2 and §2.1.4.2 verification
 * algorithms.
 *
 * Hashes cross this module's API as 64-character lowercase hex strings: node:crypto returns hex an order of
 * magnitude faster than it allocates a Buffer for a small digest, and hex is what proofs and checkpoints are
 * stored as.
 */

/** Bytes in one SHA-256 digest. */
export const HASH_BYTES = 32;

/** MTH({}) = SHA-256 of the empty string (RFC 6962 §2.1). */
export const EMPTY_ROOT: string = hash('sha256', '');

const HEX_HASH = /^[0-9a-f]{64}$/;
// What a leaf may be spelled as: upper-case hex decodes to the same bytes, and `append` always accepted it.
const HEX_HASH_ANY_CASE = /^[0-9a-fA-F]{64}$/;
// Leaves queued before the tree integrates them without being asked (bounds the queue's memory).
const PENDING_LIMIT = 1024;

/** True when `value` is a 64-character lowercase hex string (the only hash spelling this module accepts). */
export function isHashHex(value: unknown): value is string {
  return typeof value === 'string' && value.length === 64 && HEX_HASH.test(value);
}

// Scratch buffers for the fixed-size hash inputs. Safe to share: every use fills and hashes one synchronously.
const leafScratch = Buffer.alloc(1 + HASH_BYTES);
const nodeScratch = Buffer.alloc(1 + 2 * HASH_BYTES);
nodeScratch[0] = 0x01;
// The input of an interior hash over two stored hashes, laid out so that the 64 child bytes start 4-byte aligned
// (0x01 at byte 3, children at bytes 4..68): a stored pair then moves in as 16 int32 words, a third of what
// Buffer#copy costs for 64 bytes (its argument handling dominates). Word copies keep the bytes as they are.
const pairBytes = new ArrayBuffer(4 + 2 * HASH_BYTES);
const pairWords = new Int32Array(pairBytes);
const pairInput = Buffer.from(pairBytes, 3, 1 + 2 * HASH_BYTES);
pairInput[0] = 0x01;
const WORDS_PER_HASH = HASH_BYTES / 4;

/**
 * The RFC 6962 leaf hash H(0x00 ‖ data). Throws TypeError when `data` is not a Uint8Array.
 */
export function hashLeaf(data: Uint8Array): string {
  if (!(data instanceof Uint8Array)) throw new TypeError('hashLeaf: data must be a Uint8Array');
  const input = Buffer.allocUnsafe(1 + data.length);
  input[0] = 0x00;
  input.set(data, 1);
  return hash('sha256', input);
}

/**
 * The RFC 6962 leaf hash of the 32 bytes a digest spells in hex: H(0x00 ‖ bytes(digestHex)). Audit records use
 * their own SHA-256 as leaf data, and this avoids a Buffer allocation on the append path.
 * Throws TypeError when `digestHex` is not 64 hex characters.
 */
export function hashLeafOfDigest(digestHex: string): string {
  // Buffer's hex decoder stops at the first invalid pair, so a short write count is the validation: cheaper
  // than a regex on the append path. (Upper-case hex decodes to the same bytes, so it is harmless here.)
  if (typeof digestHex !== 'string' || digestHex.length !== 2 * HASH_BYTES) {
    throw new TypeError('hashLeafOfDigest: digestHex must be 64 hex characters');
  }
  leafScratch[0] = 0x00;
  if (leafScratch.write(digestHex, 1, HASH_BYTES, 'hex') !== HASH_BYTES) {
    throw new TypeError('hashLeafOfDigest: digestHex must be 64 hex characters');
  }
  return hash('sha256', leafScratch);
}

/**
 * The RFC 6962 interior node hash H(0x01 ‖ left ‖ right). Throws TypeError when either side is not a
 * 64-character lowercase hex string.
 */
export function hashChildren(left: string, right: string): string {
  if (!isHashHex(left)) throw new TypeError('hashChildren: left must be 64 lowercase hex characters');
  if (!isHashHex(right)) throw new TypeError('hashChildren: right must be 64 lowercase hex characters');
  return nodeHashUnchecked(left, right);
}

function nodeHashUnchecked(left: string, right: string): string {
  nodeScratch.write(left, 1, HASH_BYTES, 'hex');
  nodeScratch.write(right, 1 + HASH_BYTES, HASH_BYTES, 'hex');
  return hash('sha256', nodeScratch);
}

/** The largest power of two strictly smaller than `n` (n ≥ 2). Arithmetic, not bit shifts: sizes may pass 2^31. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && splitPoint(n + 1) === n;
}

// Buffer's per-encoding writers. Undocumented but present on every Buffer since Node 6 (Buffer#write dispatches
// to them); calling them directly skips write()'s argument normalization, about half the cost of a 32-byte write
// (measured ≈ 60 ns against ≈ 130 ns), and the tree does one per interior node.
type RawWriters = Buffer & { latin1Write(text: string, offset: number, length: number): number };

// Hashes per storage chunk (1 MiB). A chunk is never copied once full, so appending stays O(1) however long the
// log: one growing Buffer copied the whole tree on every doubling, a stall of the appending syscall that grew
// with the log (tens of milliseconds at a few million records).
const CHUNK_HASHES = 32 * 1024;
const FIRST_CHUNK_HASHES = 256;

/**
 * An append-only array of 32-byte hashes packed into Buffers of CHUNK_HASHES hashes each (no per-hash object on
 * the heap). Only the first chunk grows, by doubling, until it is full size; a small tree stays small.
 */
class HashArray {
  readonly #chunks: RawWriters[] = [];
  // #words[c] views the same bytes as #chunks[c], for `hashPair`.
  readonly #words: Int32Array[] = [];
  #count = 0;

  constructor() {
    this.#setChunk(0, HASH_BYTES * FIRST_CHUNK_HASHES);
  }

  // allocUnsafeSlow never takes a slice of Buffer's shared pool, so the chunk starts at offset 0 of its own
  // ArrayBuffer and an Int32Array can view it.
  #setChunk(c: number, bytes: number): RawWriters {
    const chunk = Buffer.allocUnsafeSlow(bytes) as RawWriters;
    this.#chunks[c] = chunk;
    this.#words[c] = new Int32Array(chunk.buffer, chunk.byteOffset, bytes / 4);
    return chunk;
  }

  get count(): number {
    return this.#count;
  }

  // The chunk that holds hash `index`, grown or added so that it can. Appends come in order, so a missing
  // chunk is always the next one.
  #chunkFor(index: number): RawWriters {
    const c = Math.floor(index / CHUNK_HASHES);
    const chunks = this.#chunks;
    let chunk = chunks[c];
    if (chunk === undefined) {
      chunk = this.#setChunk(c, HASH_BYTES * CHUNK_HASHES);
    } else if ((index % CHUNK_HASHES) * HASH_BYTES >= chunk.length) {
      let length = chunk.length * 2;
      while ((index % CHUNK_HASHES) * HASH_BYTES >= length) length *= 2;
      const old = chunk;
      chunk = this.#setChunk(c, Math.min(length, HASH_BYTES * CHUNK_HASHES));
      old.copy(chunk, 0, 0, old.length);
    }
    return chunk;
  }

  /**
   * Stores the `count` hashes that `hex` spells back to back (64 hex characters each); false (nothing stored)
   * when it is not exactly that.
   */
  pushHex(hex: string, count: number): boolean {
    if (hex.length !== 2 * HASH_BYTES * count) return false;
    for (let done = 0; done < count; ) {
      const index = this.#count + done;
      const n = Math.min(CHUNK_HASHES - (index % CHUNK_HASHES), count - done);
      const chunk = this.#chunkFor(index + n - 1);
      const text = n === count ? hex : hex.slice(2 * HASH_BYTES * done, 2 * HASH_BYTES * (done + n));
      // The hex decoder stops at the first invalid pair: a short write means `hex` was not all hashes.
      if (chunk.write(text, (index % CHUNK_HASHES) * HASH_BYTES, HASH_BYTES * n, 'hex') !== HASH_BYTES * n) {
        return false;
      }
      done += n;
    }
    this.#count += count;
    return true;
  }

  /** Stores a digest given as a 32-character latin1 string (node:crypto's cheapest binary output). */
  pushBinary(digest: string): void {
    const index = this.#count;
    this.#chunkFor(index).latin1Write(digest, (index % CHUNK_HASHES) * HASH_BYTES, HASH_BYTES);
    this.#count += 1;
  }

  /**
   * Stores the interior nodes over the adjacent pairs (2j, 2j + 1) of `children` for j in [from, to), in order,
   * as `pushBinary` of each `children.hashPair(2j)` would; this level must hold exactly `from` nodes. The
   * digests go in with one latin1 write per chunk they land in, not one per node (a node costs a hash call
   * and, before, a second native call to store it).
   */
  pushPairsOf(children: HashArray, from: number, to: number): void {
    if (this.#count !== from) throw new Error('MerkleTree: a level is out of step with its children');
    while (this.#count < to) {
      const index = this.#count;
      const n = Math.min(CHUNK_HASHES - (index % CHUNK_HASHES), to - index);
      const chunk = this.#chunkFor(index + n - 1);
      let digests = '';
      for (let j = index; j < index + n; j += 1) digests += children.hashPair(2 * j);
      // Every digest is 32 latin1 characters, so the write is exactly n hashes long.
      if (chunk.latin1Write(digests, (index % CHUNK_HASHES) * HASH_BYTES, HASH_BYTES * n) !== HASH_BYTES * n) {
        throw new Error('MerkleTree: interior nodes did not store');
      }
      this.#count += n;
    }
  }

  hex(index: number): string {
    const offset = (index % CHUNK_HASHES) * HASH_BYTES;
    return this.#chunks[Math.floor(index / CHUNK_HASHES)]!.toString('hex', offset, offset + HASH_BYTES);
  }

  /**
   * The interior node over the adjacent pair (index, index + 1), as a latin1 digest: it never leaves binary.
   * `index` is even (a pair's left child), so both halves are in one chunk.
   */
  hashPair(index: number): string {
    const words = this.#words[Math.floor(index / CHUNK_HASHES)]!;
    const at = (index % CHUNK_HASHES) * WORDS_PER_HASH;
    for (let i = 0; i < 2 * WORDS_PER_HASH; i += 1) pairWords[1 + i] = words[at + i]!;
    return hash('sha256', pairInput, 'binary');
  }
}

function checkSize(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be a safe integer`);
  }
  if (value < 0 || value > max) throw new RangeError(`${name} must be between 0 and ${max}`);
  return value;
}

/**
 * `tree.append(leafHash)` for a leaf hash that node:crypto just produced, or that was recomputed and compared
 * (an audit record's hash after sealing or parsing): it skips the hex check, which measured ≈ 4% of an audit
 * append. Not exported from the package; a malformed hash here would fail the next integration. Never throws
 * otherwise.
 */
export let appendComputedLeaf: (tree: MerkleTree, leafHash: string) => void;

/**
 * An append-only RFC 6962 Merkle tree that keeps every leaf hash and every complete perfect subtree root.
 * Append costs amortized one interior hash (O(log n) worst case); the root of any past size and every proof
 * take O(log n) stored lookups plus O(log² n) hashes at most. Memory is 64 bytes per leaf.
 *
 * Leaves given by hash are integrated in batches (group commit): `append` queues the hex string, and the queue
 * is decoded in one call and its interior nodes computed before anything reads the tree (size excepted, which
 * counts the queue) or after PENDING_LIMIT leaves. The tree any reader sees is the same as with one-by-one
 * integration; what the batch saves is a hex decode call per leaf (≈ 0.15 µs of a ≈ 1.5 µs audit record).
 */
export class MerkleTree {
  // levels[k][i] is the root of the perfect subtree over leaves [i·2^k, (i+1)·2^k).
  readonly #levels: HashArray[] = [new HashArray()];
  // Leaf hashes appended but not yet integrated (already validated), in order.
  #pending: string[] = [];
  #rootSize = 0;
  #root = EMPTY_ROOT;

  /** Number of leaves. */
  get size(): number {
    return this.#levels[0]!.count + this.#pending.length;
  }

  /**
   * Appends a leaf by its leaf hash (already H(0x00 ‖ d)). Throws TypeError when `leafHash` is not 64 hex
   * characters (nothing is appended then).
   */
  append(leafHash: string): void {
    if (typeof leafHash !== 'string' || !HEX_HASH_ANY_CASE.test(leafHash)) {
      throw new TypeError('MerkleTree.append: leafHash must be 64 hex characters');
    }
    this.#pending.push(leafHash);
    if (this.#pending.length >= PENDING_LIMIT) this.#integrate();
  }

  /**
   * Appends the leaf whose data is the 32 bytes `digestHex` spells, i.e. leaf hash H(0x00 ‖ bytes(digestHex)),
   * without a round trip through hex. The audit log appends each v1 record this way (its data is the record's
   * SHA-256). Throws TypeError when `digestHex` is not 64 hex characters (nothing is appended then).
   */
  appendDigest(digestHex: string): void {
    if (typeof digestHex !== 'string' || digestHex.length !== 2 * HASH_BYTES) {
      throw new TypeError('MerkleTree.appendDigest: digestHex must be 64 hex characters');
    }
    leafScratch[0] = 0x00;
    if (leafScratch.write(digestHex, 1, HASH_BYTES, 'hex') !== HASH_BYTES) {
      throw new TypeError('MerkleTree.appendDigest: digestHex must be 64 hex characters');
    }
    this.#integrate();
    const leaves = this.#levels[0]!;
    leaves.pushBinary(hash('sha256', leafScratch, 'binary'));
    this.#completeLevels(leaves.count - 1);
  }

  static {
    appendComputedLeaf = (tree, leafHash) => {
      tree.#pending.push(leafHash);
      if (tree.#pending.length >= PENDING_LIMIT) tree.#integrate();
    };
  }

  // Decodes the queued leaves in one call, then completes the subtrees they close.
  #integrate(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    const leaves = this.#levels[0]!;
    const first = leaves.count;
    // Every queued string passed HEX_HASH_ANY_CASE, so the batch decodes whole.
    if (!leaves.pushHex(pending.join(''), pending.length)) throw new Error('MerkleTree: queued leaves did not decode');
    this.#completeLevels(first);
  }

  // With n leaves, level k holds floor(n / 2^k) nodes: the roots of the complete perfect subtrees of 2^k leaves.
  // After leaves [before, count) arrive, level k + 1 gains the parents of the pairs whose right child is new,
  // j from floor(before / 2) to floor(count / 2) - 1, and so on up, level by level: the same nodes, in the same
  // order, as completing the subtrees leaf by leaf. Arithmetic, not shifts: sizes may pass 2^31.
  #completeLevels(before: number): void {
    const levels = this.#levels;
    let was = before;
    for (let k = 0; ; k += 1) {
      const from = Math.floor(was / 2);
      const to = Math.floor(levels[k]!.count / 2);
      if (to <= from) return;
      let parent = levels[k + 1];
      if (parent === undefined) {
        parent = new HashArray();
        levels.push(parent);
      }
      parent.pushPairsOf(levels[k]!, from, to);
      was = from;
    }
  }

  /** Appends a leaf by its data (hashes it as H(0x00 ‖ data)); returns the leaf hash. Throws like `hashLeaf`. */
  appendData(data: Uint8Array): string {
    const leafHash = hashLeaf(data);
    this.append(leafHash);
    return leafHash;
  }

  /** The leaf hash at `index`. Throws TypeError/RangeError when `index` is not a stored leaf index. */
  leaf(index: number): string {
    this.#integrate();
    checkSize(index, 'index', this.size - 1);
    return this.#levels[0]!.hex(index);
  }

  /**
   * MTH of the first `size` leaves (default: all), EMPTY_ROOT for size 0. Throws TypeError/RangeError when
   * `size` is not an integer in [0, this.size].
   */
  root(size: number = this.size): string {
    this.#integrate();
    checkSize(size, 'size', this.size);
    if (size === this.#rootSize) return this.#root;
    const root = size === 0 ? EMPTY_ROOT : this.#subtreeRoot(0, size);
    if (size === this.size) {
      this.#rootSize = size;
      this.#root = root;
    }
    return root;
  }

  /**
   * The RFC 6962 §2.1.1 audit path for leaf `index` in the tree of the first `size` leaves (default: all).
   * Throws TypeError/RangeError unless 0 ≤ index < size ≤ this.size.
   */
  inclusionProof(index: number, size: number = this.size): string[] {
    this.#integrate();
    checkSize(size, 'size', this.size);
    if (size === 0) throw new RangeError('size must be at least 1 for an inclusion proof');
    checkSize(index, 'index', size - 1);
    const path: string[] = [];
    this.#path(index, 0, size, path);
    return path;
  }

  /**
   * The RFC 6962 §2.1.2 consistency proof between the trees of the first `oldSize` and `newSize` leaves
   * (default newSize: all). Empty when oldSize is 0 or equals newSize. Throws TypeError/RangeError unless
   * 0 ≤ oldSize ≤ newSize ≤ this.size.
   */
  consistencyProof(oldSize: number, newSize: number = this.size): string[] {
    this.#integrate();
    checkSize(newSize, 'newSize', this.size);
    checkSize(oldSize, 'oldSize', newSize);
    const proof: string[] = [];
    if (oldSize === 0 || oldSize === newSize) return proof;
    this.#subproof(oldSize, 0, newSize, true, proof);
    return proof;
  }

  /** MTH(D[start:end]) for 0 ≤ start < end ≤ size. */
  #subtreeRoot(start: number, end: number): string {
    const n = end - start;
    if (n === 1) return this.#levels[0]!.hex(start);
    if (start % n === 0 && isPowerOfTwo(n)) {
      const level = this.#levels[Math.round(Math.log2(n))];
      if (level !== undefined && level.count > start / n) return level.hex(start / n);
    }
    const k = splitPoint(n);
    return nodeHashUnchecked(this.#subtreeRoot(start, start + k), this.#subtreeRoot(start + k, end));
  }

  /** PATH(m, D[start:end]) (RFC 6962 §2.1.1), appended to `out` leaf-side first. */
  #path(m: number, start: number, end: number, out: string[]): void {
    const n = end - start;
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      this.#path(m, start, start + k, out);
      out.push(this.#subtreeRoot(start + k, end));
    } else {
      this.#path(m - k, start + k, end, out);
      out.push(this.#subtreeRoot(start, start + k));
    }
  }

  /** SUBPROOF(m, D[start:end], b) (RFC 6962 §2.1.2), appended to `out`. */
  #subproof(m: number, start: number, end: number, complete: boolean, out: string[]): void {
    const n = end - start;
    if (m === n) {
      if (!complete) out.push(this.#subtreeRoot(start, end));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.#subproof(m, start, start + k, complete, out);
      out.push(this.#subtreeRoot(start + k, end));
    } else {
      this.#subproof(m - k, start + k, end, false, out);
      out.push(this.#subtreeRoot(start, start + k));
    }
  }
}

function isTreeSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * A checked copy of a proof path: every index 0..length-1 read exactly once and a hash, or undefined. An index
 * loop, not `every`, which skips the holes of a sparse array (a hole then reached the hash code as undefined and
 * threw, red-team pass 132); the verifiers use the copy, so a Proxy or getter cannot change a checked entry, and
 * a trap that throws is a malformed path like any other.
 */
function hashListCopy(value: unknown): string[] | undefined {
  try {
    if (!Array.isArray(value)) return undefined;
    const length: unknown = value.length;
    if (!isTreeSize(length)) return undefined;
    const copy: string[] = [];
    for (let i = 0; i < length; i += 1) {
      const entry: unknown = value[i];
      if (!isHashHex(entry)) return undefined;
      copy.push(entry);
    }
    return copy;
  } catch {
    return undefined;
  }
}

const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

/**
 * Verifies an inclusion proof with the RFC 9162 §2.1.3.2 algorithm: true only when `proof` is the audit path
 * that leads from `leafHash` at `index` to `root` in a tree of `size` leaves. Never throws: proofs come from
 * untrusted storage, so any malformed argument (non-hex hash, negative or fractional number, non-array proof)
 * is simply `false`.
 */
export function verifyInclusion(
  leafHash: string,
  index: number,
  size: number,
  proof: readonly string[],
  root: string,
): boolean {
  if (!isHashHex(leafHash) || !isHashHex(root) || !isTreeSize(index) || !isTreeSize(size)) return false;
  const path = hashListCopy(proof);
  if (path === undefined) return false;
  // 1. leaf_index must be inside the tree.
  if (index >= size) return false;
  // 2–3.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  // 4.
  for (const p of path) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHashUnchecked(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHashUnchecked(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  return sn === 0 && r === root;
}

/**
 * Verifies a consistency proof with the RFC 9162 §2.1.4.2 algorithm: true only when the tree of `newSize`
 * leaves with root `newRoot` extends the tree of `oldSize` leaves with root `oldRoot`. The RFC algorithm covers
 * 0 < oldSize < newSize; the edge cases follow the RFC's definitions: both roots are always 32-byte hashes;
 * oldSize === 0 needs an empty proof and `oldRoot` equal to EMPTY_ROOT (MTH({})), and then any tree extends it
 * (so 0 → 0 needs EMPTY_ROOT on both sides); oldSize === newSize needs an empty proof and equal roots.
 * Never throws: any malformed argument is `false`.
 *
 * Checked against transparency-dev/merkle's corpus (test/runtime/audit/merkle-vectors.test.ts). Two decided
 * differences from its Go verifier: Go accepts equal sizes with equal roots of any length (one corpus probe
 * uses 12-byte roots), where a root here is a SHA-256 hash or nothing; and Go refuses every proof from size 0
 * as meaningless, where here the empty tree's root is accepted as the prefix of every tree, since a monitor may
 * hold the checkpoint of an empty log.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: string,
  newRoot: string,
  proof: readonly string[],
): boolean {
  if (!isTreeSize(oldSize) || !isTreeSize(newSize) || !isHashHex(oldRoot) || !isHashHex(newRoot)) return false;
  const checked = hashListCopy(proof);
  if (checked === undefined) return false;
  if (oldSize > newSize) return false;
  // Size 0 first: its root is MTH({}) whatever the other size is (0 → 0 included).
  if (oldSize === 0) return checked.length === 0 && oldRoot === EMPTY_ROOT && (newSize > 0 || newRoot === EMPTY_ROOT);
  if (oldSize === newSize) return checked.length === 0 && oldRoot === newRoot;
  // 1. An empty path cannot prove 0 < oldSize < newSize.
  if (checked.length === 0) return false;
  // 2. When oldSize is a power of two the old root is the first node of the path and is not sent.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...checked] : checked;
  // 3.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  // 4.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // 6.
  for (let i = 1; i < path.length; i += 1) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHashUnchecked(c, fr);
      sr = nodeHashUnchecked(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHashUnchecked(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 7.
  return fr === oldRoot && sr === newRoot && sn === 0;
}
