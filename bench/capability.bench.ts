// Capability checks against floors measured in the same run:
// - cached check: `authorize` with a capability id the guest supplied (a fresh string, as it arrives from the
//   boundary, looked up as is) on a known 3-link chain and on a 1-link root grant: lookup, holder, the scope
//   tests of the links that need them (here the leaf: each delegation narrows its parent), the chain's window,
//   every link's revocation flag and counter. Floor: a bare Map lookup + compare of the same
//   fresh string. Batched, figures are per check.
// - cold verify: a 3-link chain of token strings verified from scratch (decode, 3 signatures, linkage,
//   windows), vs one node:crypto Ed25519 verify.
// Run: npm run bench -- --suite capability (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/capability.bench.ts)
import { Bench } from 'tinybench';
import { CapabilityAuthority } from '../runtime/capability/authority.js';
import { verifyChain } from '../runtime/capability/node-verifier.js';
import { SigningKey, verifySignature } from '../runtime/capability/signing-key.js';
import { encodePublicKey } from '../runtime/core/public-key.js';
import { benchOptions, Figures } from './report.js';

const MAP_FLOOR = 'a Map lookup of the same fresh id string + compare';
const figures = new Figures({
  'capability.cached_check.chain3': {
    what: 'authorize, cached 3-link chain, capability id as a fresh string from the guest',
    floor: MAP_FLOOR,
    target: { kind: 'p50', maxNs: 250 },
  },
  'capability.cached_check.root': {
    what: 'authorize, cached 1-link root grant, capability id as a fresh string from the guest',
    floor: MAP_FLOOR,
    target: { kind: 'p50', maxNs: 250 },
  },
  'capability.cold_verify.chain3': {
    what: 'verifyChain of a 3-link chain of token strings from scratch (decode, 3 Ed25519 verifies, linkage)',
    floor: 'one node:crypto Ed25519 verify',
    target: { kind: 'p50', maxNs: 400_000 },
  },
});

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

const bench = new Bench(benchOptions({ time: 1500, warmupTime: 300 }));
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

const mapFloor = 'floor: Map lookup + compare';
figures.fromTasks('capability.cached_check.chain3', bench, 'cached check', { floor: mapFloor, per: BATCH });
figures.fromTasks('capability.cached_check.root', bench, 'cached check, root grant', { floor: mapFloor, per: BATCH });
figures.fromTasks('capability.cold_verify.chain3', bench, 'cold 3-link chain verify', {
  floor: 'floor: one node:crypto verify',
});
await figures.publish();
if (sink === 0) console.log('no work measured');
