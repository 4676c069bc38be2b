// The seed @kernel.chat/agent-os (0.2.0-alpha.0), side by side with isokernel on the same shapes in one
// process and run:
// - its `verify` of a granted acap (HMAC-SHA256 over the canonical fields, expiry, invocation count,
//   revocation list, trust set; it is what its kernel runs before every tool call, with no cache) against
//   isokernel's cached check of a 1-link root grant by a capability id arriving as a fresh string (holder,
//   action, resource pattern, window, revocation, counter);
// - its `checkTaint` of an email_send call carrying two allowed taints, and one carrying an email taint (a
//   violation), against isokernel's label check of an email.send call under the same two outcomes.
// agent-os 0.2.0-alpha.0's verify recomputes the signature with a fresh `signed_at` (the time of the verify, not
// the one signed), so it refuses every acap from the millisecond after it was granted on ("invalid signature").
// The refusal is its last step, after the same work an accepting verify does (every check, the HMAC, the
// constant-time compare), so the figure is the cost of its full verify either way.
// Peer rows: the floor is isokernel's figure for the same shape, so the ratio is agent-os's cost over
// isokernel's (isokernel's checks per second over agent-os's; above 1, isokernel is faster).
//
// Where agent-os comes from: its npm package when the registry has it; otherwise (it answers 404 for this
// version at the time of writing) its source, packages/agent-os of the isaacsight/kernel repository, taken from
// a git mirror by prepare.ts and run with tsx. Either way `npm run bench:peers` prepares it; nothing is committed.
// Run: npm run bench:peers (or, once prepared: node --no-node-snapshot --import ./bench/loader/register.mjs bench/thirdparty/agent-os.bench.ts)
import { Bench } from 'tinybench';
import { z } from 'zod';
import { CapabilityAuthority } from '../../runtime/capability/authority.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';
import { encodePublicKey } from '../../runtime/core/public-key.js';
import { makeLabel } from '../../runtime/labels/label.js';
import { LabelRules } from '../../runtime/labels/label-rules.js';
import { defineTool } from '../../runtime/tool-use/tool-contract.js';
import { benchOptions, Figures } from '../report.js';
import { importPath, PREPARE_HINT, readManifest } from './peers.js';

const figures = new Figures({
  'peers.agent_os.verify': {
    what: 'agent-os verify(acap, { trust, revocations }) of a granted tool capability',
    floor: 'isokernel’s cached check of a 1-link root grant by a fresh capability id string, this run',
  },
  'peers.agent_os.check_taint.allowed': {
    what: 'agent-os checkTaint of an email_send call carrying two taints its default policy allows',
    floor: 'isokernel’s label check of an email.send call, context with two tags its sinks allow, this run',
  },
  'peers.agent_os.check_taint.denied': {
    what: 'agent-os checkTaint of an email_send call carrying an email taint (taint_violation)',
    floor: 'isokernel’s label check of an email.send call, context tagged email (E_TAINT finding), this run',
  },
});

// The parts of agent-os used here (its types are not available to this project's typecheck).
interface AgentOsResult {
  readonly ok: boolean;
  readonly error?: { readonly code: string; readonly message: string };
}
interface AgentOs {
  grant(request: object, options: object): object;
  verify(acap: object, options: object): AgentOsResult;
  checkTaint(call: object): AgentOsResult;
  RevocationList: new () => object;
}

const VERIFY_BATCH = 200;
const CHECK_BATCH = 1000;
const NOW = Date.now();
let sink = 0;

const manifest = readManifest();
const entry = manifest?.agentOs;
const agentOs: AgentOs | string =
  entry === undefined
    ? `agent-os is not prepared: ${PREPARE_HINT}`
    : entry.ok
      ? await importPath<AgentOs>(entry.path)
      : entry.missing;

if (typeof agentOs === 'string') {
  for (const id of [
    'peers.agent_os.verify',
    'peers.agent_os.check_taint.allowed',
    'peers.agent_os.check_taint.denied',
  ] as const) {
    figures.skip(id, agentOs);
  }
} else {
  // Theirs: a parent grants a child a tool capability (as in its README), verified with a trust set and an
  // empty revocation list.
  const rootKey = Buffer.alloc(32, 7);
  const acap = agentOs.grant(
    { subject: { kind: 'tool', name: 'fs_read' }, scope: ['invoke'], max_invocations: 1000, justification: 'bench' },
    {
      granted_by: 'agent_root',
      granted_to: 'agent_child',
      expires_at: new Date(NOW + 3_600_000).toISOString(),
      signing_key: rootKey,
    },
  );
  const verifyOptions = { trust: new Map([['agent_root', rootKey]]), revocations: new agentOs.RevocationList() };
  // Accepted, or refused only at the signature compare (see above), never earlier.
  const verified = agentOs.verify(acap, verifyOptions);
  if (!verified.ok && !verified.error?.message.endsWith('has an invalid signature')) {
    throw new Error(`agent-os refused its own grant before the signature check: ${verified.error?.code}`);
  }
  const taint = (source: string, origin: string) => ({ source, origin, introduced_at: new Date(NOW).toISOString() });
  const call = (taints: object[]) => ({
    tool: 'email_send',
    args: { to: 'a@example.com', subject: 'hi', body: 'text' },
    caller: 'agent_child',
    acap: 'cap_email_send',
    taints,
  });
  const allowedCall = call([taint('user_input', 'chat/1'), taint('user_input', 'chat/2')]);
  const deniedCall = call([taint('email', 'inbox/attacker@example.com')]);
  if (!agentOs.checkTaint(allowedCall).ok || agentOs.checkTaint(deniedCall).ok) {
    throw new Error('agent-os checkTaint did not give the expected outcomes');
  }

  // Ours: the same grant as a root capability held by an agent key, checked by a fresh id string each time.
  const authority = new CapabilityAuthority({ rootKey: SigningKey.generate(), now: () => NOW });
  const holderKey = SigningKey.generate();
  const granted = authority.grant({
    audience: holderKey.publicKey,
    action: 'fs.read',
    resource: '/workspace/**',
    expiresAt: NOW + 3_600_000,
  });
  const holder = encodePublicKey(holderKey.publicKey);
  const heads = Array.from({ length: 8 }, () => granted.id.slice(0, 32));
  const tail = granted.id.slice(32);
  const authorize = (i: number) =>
    authority.authorize({
      holder,
      capabilityId: heads[i & 7] + tail,
      action: 'fs.read',
      resource: '/workspace/out/report.md',
    });
  if (!authorize(0).ok) throw new Error('isokernel refused its own grant');
  const tool = defineTool({
    name: 'email.send',
    description: 'send',
    input: z.unknown(),
    labels: { sinks: { '*': ['web', 'email'] } },
    run: () => null,
  });
  const rules = new LabelRules(undefined);
  const args = { to: 'a@example.com', subject: 'hi', body: 'text' };
  const allowedLabel = makeLabel(['secret', 'user_input']);
  const deniedLabel = makeLabel(['email']);
  if (rules.check(tool, args, allowedLabel) !== undefined || rules.check(tool, args, deniedLabel) === undefined) {
    throw new Error('isokernel label check did not give the expected outcomes');
  }

  const bench = new Bench(benchOptions({ time: 1500, warmupTime: 300 }));
  const os = agentOs;
  bench
    .add('agent-os verify', () => {
      for (let i = 0; i < VERIFY_BATCH; i++) if (os.verify(acap, verifyOptions).error !== undefined) sink++;
    })
    .add('isokernel cached check', () => {
      for (let i = 0; i < VERIFY_BATCH; i++) if (authorize(i).ok) sink++;
    })
    .add('agent-os checkTaint allowed', () => {
      for (let i = 0; i < CHECK_BATCH; i++) if (os.checkTaint(allowedCall).ok) sink++;
    })
    .add('isokernel label check allowed', () => {
      for (let i = 0; i < CHECK_BATCH; i++) if (rules.check(tool, args, allowedLabel) === undefined) sink++;
    })
    .add('agent-os checkTaint denied', () => {
      for (let i = 0; i < CHECK_BATCH; i++) if (!os.checkTaint(deniedCall).ok) sink++;
    })
    .add('isokernel label check denied', () => {
      for (let i = 0; i < CHECK_BATCH; i++) if (rules.check(tool, args, deniedLabel) !== undefined) sink++;
    });
  await bench.run();
  figures.fromTasks('peers.agent_os.verify', bench, 'agent-os verify', {
    floor: 'isokernel cached check',
    per: VERIFY_BATCH,
  });
  figures.fromTasks('peers.agent_os.check_taint.allowed', bench, 'agent-os checkTaint allowed', {
    floor: 'isokernel label check allowed',
    per: CHECK_BATCH,
  });
  figures.fromTasks('peers.agent_os.check_taint.denied', bench, 'agent-os checkTaint denied', {
    floor: 'isokernel label check denied',
    per: CHECK_BATCH,
  });
}
await figures.publish();
if (sink === 42) console.log('');
