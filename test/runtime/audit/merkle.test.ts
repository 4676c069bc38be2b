import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  hashChildren,
  hashLeaf,
  hashLeafOfDigest,
  isHashHex,
  MerkleTree,
  verifyConsistency,
  verifyInclusion,
} from '../../../runtime/audit/merkle.js';
import { verifyAuditConsistency } from '../../../runtime/audit/proof.js';

// A naive RFC 6962 §2.1 reference, written straight from the definitions with a different SHA-256
// implementation (@noble/hashes), so it shares no code with runtime/merkle.ts.
function refLeaf(data: Uint8Array): Uint8Array {
  return sha256(new Uint8Array([0x00, ...data]));
}
function refNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(new Uint8Array([0x01, ...left, ...right]));
}
function refSplit(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function refMth(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array());
  if (leaves.length === 1) return refLeaf(leaves[0]!);
  const k = refSplit(leaves.length);
  return refNode(refMth(leaves.slice(0, k)), refMth(leaves.slice(k)));
}

function treeOf(leaves: readonly Uint8Array[]): MerkleTree {
  const tree = new MerkleTree();
  for (const leaf of leaves) tree.appendData(leaf);
  return tree;
}

function flipHex(hex: string, at = 0): string {
  const i = at % hex.length;
  const c = hex[i] === '0' ? '1' : '0';
  return hex.slice(0, i) + c + hex.slice(i + 1);
}

const leavesArb = (max: number) => fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: max });

describe('merkle', () => {
  it('matches the RFC 6962 test vectors used by Certificate Transparency', () => {
    const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    const tree = new MerkleTree();
    expect(tree.root()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    leaves.forEach((leaf, i) => {
      tree.appendData(hexToBytes(leaf));
      expect(tree.root()).toBe(roots[i]);
    });
    for (const [i, root] of roots.entries()) expect(tree.root(i + 1)).toBe(root);
  });

  it('computes the same root as the naive MTH for every size, including past sizes', () => {
    fc.assert(
      fc.property(leavesArb(140), (leaves) => {
        const tree = treeOf(leaves);
        expect(tree.size).toBe(leaves.length);
        expect(tree.root()).toBe(bytesToHex(refMth(leaves)));
        for (let size = 0; size <= leaves.length; size += 7) {
          expect(tree.root(size)).toBe(bytesToHex(refMth(leaves.slice(0, size))));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('hashes leaves and nodes with the RFC 6962 domain prefixes', () => {
    const data = new Uint8Array([1, 2, 3]);
    expect(hashLeaf(data)).toBe(bytesToHex(refLeaf(data)));
    const digest = bytesToHex(sha256(data));
    expect(hashLeafOfDigest(digest)).toBe(bytesToHex(refLeaf(hexToBytes(digest))));
    const l = bytesToHex(refLeaf(new Uint8Array([1])));
    const r = bytesToHex(refLeaf(new Uint8Array([2])));
    expect(hashChildren(l, r)).toBe(bytesToHex(refNode(hexToBytes(l), hexToBytes(r))));
    expect(EMPTY_ROOT).toBe(bytesToHex(sha256(new Uint8Array())));
  });

  it('verifies an inclusion proof for every leaf and rejects altered leaves and wrong indexes', () => {
    fc.assert(
      fc.property(
        leavesArb(90).filter((l) => l.length > 0),
        fc.nat(),
        (leaves, salt) => {
          const tree = treeOf(leaves);
          const size = tree.size;
          const root = tree.root();
          for (let index = 0; index < size; index += 1) {
            const proof = tree.inclusionProof(index);
            const leaf = tree.leaf(index);
            expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);
            expect(verifyInclusion(flipHex(leaf, salt), index, size, proof, root)).toBe(false);
            expect(verifyInclusion(leaf, index, size, proof, flipHex(root, salt))).toBe(false);
            const other = (index + 1 + (salt % size)) % size;
            if (other !== index && tree.leaf(other) !== leaf) {
              expect(verifyInclusion(leaf, other, size, proof, root)).toBe(false);
            }
            if (proof.length > 0) {
              const j = salt % proof.length;
              const altered = proof.map((p, i) => (i === j ? flipHex(p, salt) : p));
              expect(verifyInclusion(leaf, index, size, altered, root)).toBe(false);
              expect(verifyInclusion(leaf, index, size, proof.slice(0, -1), root)).toBe(false);
              expect(verifyInclusion(leaf, index, size, [...proof, proof[0]!], root)).toBe(false);
            }
            expect(verifyInclusion(leaf, size, size, proof, root)).toBe(false);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('verifies inclusion proofs against past tree sizes', () => {
    const tree = treeOf(Array.from({ length: 37 }, (_, i) => new Uint8Array([i])));
    for (let size = 1; size <= 37; size += 1) {
      const root = tree.root(size);
      for (let index = 0; index < size; index += 1) {
        expect(verifyInclusion(tree.leaf(index), index, size, tree.inclusionProof(index, size), root)).toBe(true);
      }
    }
  });

  it('verifies consistency proofs for every old ≤ new and rejects altered roots and paths', () => {
    const n = 40;
    const tree = treeOf(Array.from({ length: n }, (_, i) => new Uint8Array([i, i * 7])));
    for (let newSize = 0; newSize <= n; newSize += 1) {
      for (let oldSize = 0; oldSize <= newSize; oldSize += 1) {
        const proof = tree.consistencyProof(oldSize, newSize);
        const oldRoot = tree.root(oldSize);
        const newRoot = tree.root(newSize);
        expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof)).toBe(true);
        expect(verifyConsistency(oldSize, newSize, flipHex(oldRoot, oldSize), newRoot, proof)).toBe(false);
        // Every tree extends the empty tree, so with oldSize 0 the new root is not constrained.
        if (oldSize > 0) {
          expect(verifyConsistency(oldSize, newSize, oldRoot, flipHex(newRoot, newSize), proof)).toBe(false);
        }
        proof.forEach((_, j) => {
          const altered = proof.map((p, i) => (i === j ? flipHex(p, j) : p));
          expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, altered)).toBe(false);
        });
        if (proof.length > 0) {
          expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof.slice(1))).toBe(false);
          expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, [...proof, proof[0]!])).toBe(false);
        }
        if (oldSize > 0 && oldSize < newSize) {
          expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, [])).toBe(false);
          expect(verifyConsistency(newSize, oldSize, newRoot, oldRoot, proof)).toBe(false);
        }
      }
    }
  });

  it('consistency proofs hold as a property over random histories', () => {
    fc.assert(
      fc.property(leavesArb(120), fc.nat(), fc.nat(), (leaves, a, b) => {
        const tree = treeOf(leaves);
        const newSize = leaves.length === 0 ? 0 : b % (leaves.length + 1);
        const oldSize = newSize === 0 ? 0 : a % (newSize + 1);
        const proof = tree.consistencyProof(oldSize, newSize);
        const oldRoot = bytesToHex(refMth(leaves.slice(0, oldSize)));
        const newRoot = bytesToHex(refMth(leaves.slice(0, newSize)));
        expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof)).toBe(true);
        if (oldSize > 0 && oldSize < newSize) {
          expect(verifyConsistency(oldSize, newSize, flipHex(oldRoot, a), newRoot, proof)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('never throws in the verifiers on malformed input', () => {
    const root = EMPTY_ROOT;
    const junk: unknown[] = [undefined, null, -1, 1.5, Number.NaN, '', 'zz', {}, [1], ['x'], [root.toUpperCase()]];
    for (const value of junk) {
      expect(verifyInclusion(value as string, 0, 1, [], root)).toBe(false);
      expect(verifyInclusion(root, value as number, 1, [], root)).toBe(false);
      expect(verifyInclusion(root, 0, 1, value as string[], root)).toBe(false);
      expect(verifyConsistency(value as number, 1, root, root, [])).toBe(false);
      expect(verifyConsistency(0, 1, root, root, value as string[])).toBe(false);
    }
    expect(verifyConsistency(0, 0, root, root, [])).toBe(true);
    expect(verifyConsistency(0, 3, flipHex(root), root, [])).toBe(false);
  });

  // Red-team pass 132: the path check used Array.prototype.every, which skips holes, so a sparse path reached the
  // hash code with undefined entries and the verifiers threw TypeError where they promise false.
  it('is false, not a throw, for a sparse path, a path whose entry getter throws, or a path read twice', () => {
    const tree = new MerkleTree();
    for (let i = 0; i < 5; i += 1) tree.append(hashLeaf(new Uint8Array([i])));
    const inclusion = tree.inclusionProof(1, 5);
    expect(verifyInclusion(tree.leaf(1), 1, 5, inclusion, tree.root())).toBe(true);
    const sparse: string[] = [];
    sparse[0] = inclusion[0]!;
    sparse[2] = inclusion[2]!;
    sparse.length = inclusion.length;
    expect(verifyInclusion(tree.leaf(1), 1, 5, sparse, tree.root())).toBe(false);
    expect(verifyInclusion(tree.leaf(1), 1, 5, new Array<string>(inclusion.length), tree.root())).toBe(false);
    const consistency = tree.consistencyProof(3, 5);
    expect(verifyConsistency(3, 5, tree.root(3), tree.root(5), consistency)).toBe(true);
    const holes: string[] = [];
    holes.length = consistency.length;
    holes[consistency.length - 1] = consistency.at(-1)!;
    expect(verifyConsistency(3, 5, tree.root(3), tree.root(5), holes)).toBe(false);
    expect(
      verifyAuditConsistency({ oldSize: 3, newSize: 5, oldRoot: tree.root(3), newRoot: tree.root(5), path: holes }),
    ).toBe(false);
    const throwing = new Proxy(inclusion, {
      get(target, property, receiver) {
        if (property === '1') throw new Error('trap');
        return Reflect.get(target, property, receiver);
      },
    });
    expect(verifyInclusion(tree.leaf(1), 1, 5, throwing, tree.root())).toBe(false);
    // Each entry is read once: what was checked is what is hashed.
    let reads = 0;
    const flipping = new Proxy(inclusion, {
      get(target, property, receiver) {
        if (property === '0') {
          reads += 1;
          return reads === 1 ? target[0] : 'zz';
        }
        return Reflect.get(target, property, receiver);
      },
    });
    expect(verifyInclusion(tree.leaf(1), 1, 5, flipping, tree.root())).toBe(true);
    expect(reads).toBe(1);
  });

  it('rejects host misuse with TypeError/RangeError naming the argument', () => {
    const tree = treeOf([new Uint8Array([1]), new Uint8Array([2])]);
    expect(() => tree.append('xyz')).toThrow(TypeError);
    expect(() => tree.append(`${'0'.repeat(63)}g`)).toThrow(/leafHash/);
    expect(tree.size).toBe(2);
    expect(() => tree.root(3)).toThrow(RangeError);
    expect(() => tree.root(1.5)).toThrow(/size/);
    expect(() => tree.inclusionProof(2)).toThrow(RangeError);
    expect(() => tree.inclusionProof(0, 0)).toThrow(RangeError);
    expect(() => tree.consistencyProof(2, 1)).toThrow(/oldSize/);
    expect(() => tree.leaf(-1)).toThrow(RangeError);
    expect(() => hashLeaf('ab' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => hashLeafOfDigest('ab')).toThrow(/digestHex/);
    expect(() => hashChildren('ab', EMPTY_ROOT)).toThrow(/left/);
    expect(isHashHex(EMPTY_ROOT)).toBe(true);
    expect(isHashHex(EMPTY_ROOT.toUpperCase())).toBe(false);
  });

  it('keeps working past the first buffer growth', () => {
    const leaves = Array.from({ length: 1100 }, (_, i) => new Uint8Array([i & 0xff, i >> 8]));
    const tree = treeOf(leaves);
    expect(tree.root()).toBe(bytesToHex(refMth(leaves)));
    const proof = tree.inclusionProof(1033);
    expect(verifyInclusion(tree.leaf(1033), 1033, 1100, proof, tree.root())).toBe(true);
  });

  it('keeps every hash across storage chunks (32Ki hashes each), with queued batches straddling them', () => {
    // Three leaves by digest first, so the queue's 1024-leaf batches do not line up with the chunk boundaries.
    const tree = new MerkleTree();
    const leafHashes: Uint8Array[] = [];
    for (let i = 0; i < 3; i += 1) {
      const data = sha256(new Uint8Array([i, 0xee]));
      leafHashes.push(refLeaf(data));
      tree.appendDigest(bytesToHex(data));
    }
    for (let i = 3; i < 70_000; i += 1) {
      const leaf = refLeaf(new Uint8Array([i & 0xff, (i >> 8) & 0xff, i >> 16]));
      leafHashes.push(leaf);
      tree.append(bytesToHex(leaf));
    }
    const naive = (n: number) => bytesToHex(refMthOfLeafHashes(leafHashes.slice(0, n)));
    expect(tree.root()).toBe(naive(70_000));
    for (const size of [32_767, 32_768, 32_769, 65_536, 65_537]) expect(tree.root(size)).toBe(naive(size));
    for (const index of [0, 32_767, 32_768, 65_535, 65_536, 69_999]) {
      expect(tree.leaf(index)).toBe(bytesToHex(leafHashes[index]!));
      expect(verifyInclusion(tree.leaf(index), index, 70_000, tree.inclusionProof(index), tree.root())).toBe(true);
    }
  });

  it('integrates queued leaves (group commit) into the same tree whatever mix of appends and reads', () => {
    // Leaves by hash are queued and integrated in batches; any read in between, any mix with appendDigest (which
    // integrates first), and batches past the queue limit must give the naive MTH of the leaves in order.
    const step = fc.oneof(
      fc.record({ kind: fc.constant('hash' as const), data: fc.uint8Array({ maxLength: 8 }), times: fc.nat(1500) }),
      fc.record({ kind: fc.constant('digest' as const), data: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
      fc.record({ kind: fc.constant('read' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 12 }), (steps) => {
        const tree = new MerkleTree();
        const leafHashes: Uint8Array[] = [];
        for (const s of steps) {
          if (s.kind === 'hash') {
            for (let i = 0; i < s.times % 1500; i += 1) {
              const leaf = refLeaf(new Uint8Array([...s.data, i & 0xff, i >> 8]));
              leafHashes.push(leaf);
              tree.append(bytesToHex(leaf));
            }
          } else if (s.kind === 'digest') {
            leafHashes.push(refLeaf(s.data));
            tree.appendDigest(bytesToHex(s.data));
          } else if (leafHashes.length > 0) {
            const index = s.at % leafHashes.length;
            expect(tree.leaf(index)).toBe(bytesToHex(leafHashes[index]!));
          }
          expect(tree.size).toBe(leafHashes.length);
        }
        const naive = (n: number): string =>
          n === 0 ? EMPTY_ROOT : bytesToHex(refMthOfLeafHashes(leafHashes.slice(0, n)));
        expect(tree.root()).toBe(naive(leafHashes.length));
        expect(tree.root(Math.floor(leafHashes.length / 3))).toBe(naive(Math.floor(leafHashes.length / 3)));
      }),
      { numRuns: 25 },
    );
  });

  it('builds the same tree lazily in batches as eagerly leaf by leaf (roots, leaves and proofs)', () => {
    // Interior nodes are computed level by level when a batch is integrated; a tree read after every append
    // integrates one leaf at a time. Every root, leaf and proof must agree, past sizes included.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2600 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (n, picks, seed) => {
          const lazy = new MerkleTree();
          const eager = new MerkleTree();
          for (let i = 0; i < n; i += 1) {
            const leaf = hashLeaf(new Uint8Array([seed & 0xff, i & 0xff, i >> 8]));
            lazy.append(leaf);
            eager.append(leaf);
            expect(eager.root()).toBe(eager.root(i + 1));
          }
          expect(lazy.root()).toBe(eager.root());
          for (const pick of picks) {
            const size = 1 + (pick % n);
            const index = pick % size;
            expect(lazy.root(size)).toBe(eager.root(size));
            expect(lazy.leaf(index)).toBe(eager.leaf(index));
            expect(lazy.inclusionProof(index, size)).toEqual(eager.inclusionProof(index, size));
            expect(lazy.consistencyProof(index, size)).toEqual(eager.consistencyProof(index, size));
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  it('a changed leaf changes the root, whatever the batch it was integrated in', () => {
    // Tamper evidence of the batched integration: flipping one bit of any leaf in a batch gives another root.
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 2100 }), fc.nat(), fc.nat(255), (n, at, bit) => {
        const leaves = Array.from({ length: n }, (_, i) => hashLeaf(new Uint8Array([i & 0xff, i >> 8])));
        const index = at % n;
        const bytes = hexToBytes(leaves[index]!);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        const altered = [...leaves];
        altered[index] = bytesToHex(bytes);
        const a = new MerkleTree();
        const b = new MerkleTree();
        for (const leaf of leaves) a.append(leaf);
        for (const leaf of altered) b.append(leaf);
        expect(b.root()).not.toBe(a.root());
        expect(verifyInclusion(leaves[index]!, index, n, b.inclusionProof(index), b.root())).toBe(false);
      }),
      { numRuns: 20 },
    );
  });
});

function refMthOfLeafHashes(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0]!;
  const k = refSplit(leaves.length);
  return refNode(refMthOfLeafHashes(leaves.slice(0, k)), refMthOfLeafHashes(leaves.slice(k)));
}
