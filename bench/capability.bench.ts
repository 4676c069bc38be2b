// Capability checks against floors measured in the same run:
// - cached check: `authorize` with a capability id the guest supplied (a fresh string, as it arrives from the
//   boundary, looked up as is) on a known 3-link chain and on a 1-link root grant: lookup, holder, every
//   link's action / resource / window / revocation / counter. Floor: a bare Map lookup + compare of the same
//   fresh string. Batched, figures are per check.
// - cold verify: a 3-link chain of token strings verified from scratch (decode, 3 signatures, linkage,
//   windows), vs one node:crypto Ed25519 verify.
// Run: node --no-node-snapshot --import tsx bench/capability.bench.ts
import { Bench } from 'tinybench';
import { CapabilityAuthority } from '../runtime/capability/authority.js';
import { verifyChain } from '../runtime/capability/node-verifier.js';
import { SigningKey, verifySignature } from '../runtime/capability/signing-key.js';
import { encodePublicKey } from '../runtime/core/public-key.js';
import { report } from './report.js';

const BATCH = 200;
const NOW = Date.now();

const rootKey = SigningKey.generate();
const [alice, bob, carol] = [SigningKey.generate(), SigningKey.generate(), SigningKey.generate()];
const authority = new CapabilityAuthority({ rootKey, now: () => NOW });
const root = authority.grant({
  audience: alice.publicKey,
  action: 'fs.read',
  resource: '/workspace/**',
  expiresAt: NOW + 3_600_000,
});
const mid = authority.delegate({
  parentId: root.id,
  delegator: alice,
  audience: bob.publicKey,
  resource: '/workspace/out/**',
});
if (!mid.ok) throw new Error(mid.message);
const leaf = authority.delegate({ parentId: mid.value.id, delegator: bob, audience: carol.publicKey });
if (!leaf.ok) throw new Error(leaf.message);
const holder = encodePublicKey(carol.publicKey);
const rootHolder = encodePublicKey(alice.publicKey);
const rootId = root.id;
const rootHeads = Array.from({ length: 8 }, () => rootId.slice(0, 32));
const rootTail = rootId.slice(32);
const leafId = leaf.value.id;
const chainTokens = authority.exportChain(leafId)!;
const anchors = [authority.rootPublicKey];

// A fresh string per check, as a guest-provided one is: built per iteration (so it cannot be hoisted out of
// the loop), flattened and hashed by the lookup, never internalized.
const heads = Array.from({ length: 8 }, () => leafId.slice(0, 32));
const tail = leafId.slice(32);
const guestId = (i: number): string => heads[i & 7] + tail;

const floorMap = new Map([[leafId, holder]]);
let sink = 0;

const check = authority.authorize({
  holder,
  capabilityId: guestId(0),
  action: 'fs.read',
  resource: '/workspace/out/report.md',
});
if (!check.ok) throw new Error(check.message);
const cold = verifyChain(chainTokens, { anchors, now: NOW });
if (!cold.ok) throw new Error(cold.message);

const message = new TextEncoder().encode('a message of about the size of a capability body '.repeat(8));
const signature = alice.sign(message);

const bench = new Bench({ time: 1500, warmupTime: 300 });
bench
  .add('cached check', () => {
    for (let i = 0; i < BATCH; i++) {
      const result = authority.authorize({
        holder,
        capabilityId: guestId(i),
        action: 'fs.read',
        resource: '/workspace/out/report.md',
      });
      if (result.ok) sink++;
    }
  })
  .add('cached check, root grant', () => {
    for (let i = 0; i < BATCH; i++) {
      const result = authority.authorize({
        holder: rootHolder,
        capabilityId: rootHeads[i & 7] + rootTail,
        action: 'fs.read',
        resource: '/workspace/out/report.md',
      });
      if (result.ok) sink++;
    }
  })
  .add('floor: Map lookup + compare', () => {
    for (let i = 0; i < BATCH; i++) if (floorMap.get(guestId(i)) === holder) sink++;
  })
  .add('cold 3-link chain verify', () => {
    if (verifyChain(chainTokens, { anchors, now: NOW }).ok) sink++;
  })
  .add('floor: one node:crypto verify', () => {
    if (verifySignature(alice.publicKey, message, signature)) sink++;
  });

await bench.run();

const rows = report('capabilities', bench, [
  {
    name: 'cached check (3-link chain, by guest id)',
    task: 'cached check',
    floor: 'floor: Map lookup + compare',
    per: BATCH,
    target: '<= 250 ns p50',
  },
  {
    name: 'cached check (1-link root grant, by guest id)',
    task: 'cached check, root grant',
    floor: 'floor: Map lookup + compare',
    per: BATCH,
    target: '<= 250 ns p50',
  },
  {
    name: 'cold 3-link chain verify',
    task: 'cold 3-link chain verify',
    floor: 'floor: one node:crypto verify',
    target: '<= 400 µs p50',
  },
]);
if (sink === 0) console.log(rows);
