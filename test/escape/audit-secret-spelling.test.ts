// Attack: spell a secret into the audit log (red-team pass 83). The log keeps no agent data of a call labelled
// `secret` in clear (a resource is a keyed digest: passes 48 and 67), but three fields an agent writes still did:
// - `sys.declassify`'s tag names, kept as kernel vocabulary: a refused `['pin4711']` left `resource: "pin4711"`
//   (a tag the handle or the caller carries is vocabulary and stays readable; any other is the agent's text);
// - a child's namespace, chosen by its parent: every record of the child carried `namespace: "default/n<secret>"`;
// - the arguments' digest, a plain SHA-256: a refused exfiltration `{ text: pin }` gave the PIN back to 10,000
//   guesses in 16 ms.
// Tag names are now resources like any other, a parent labelled `secret` cannot name its child's namespace
// (E_TAINT), and a `secret` call's arguments digest is keyed, as its resource is.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { digestArgs } from '../../runtime/audit/record.js';
import { tempRootSuite } from '../helpers/fs-sandbox.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';

const PIN = '4711';
const suite = tempRootSuite('isokernel-secret-spelling-');

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

// `echo` answers with what it was sent, labelled `secret`; `noop` refuses `secret` in its arguments.
function secretKernel(isolation: (typeof ISOLATION_MODES)[number]): Kernel {
  return testKernel({
    isolation,
    policy: {
      capabilities: [...testToolsPolicy.capabilities, { action: 'agent.spawn', resource: 'inline' }],
      labels: {
        sources: [{ tool: 'echo', resource: 'echo', tags: ['secret'] }],
        sinks: [{ tool: 'noop', arg: '*', deny: ['secret'] }],
      },
    },
  });
}

describe.each(ISOLATION_MODES)('%s', (isolation) => {
  it('declassify tag names under secret are stored as a digest', async () => {
    const root = suite.root;
    await mkdir(join(root, 'secret'));
    await writeFile(join(root, 'secret', 'pin.txt'), PIN);
    kernel = testKernel({
      isolation,
      tools: createFsTools({ roots: [root] }),
      policy: {
        capabilities: [{ action: 'fs.read', resource: `${root}/**` }],
        labels: { sources: [{ tool: 'fs.read', resource: `${root}/secret/**`, tags: ['secret'] }] },
      },
    });
    const run = await kernel.run({
      code: `export default async () => {
        await sys.mem.put('k', 1);
        const h = await sys.mem.get('k', { handle: true });
        const pin = (await sys.tool('fs.read', { path: 'secret/pin.txt' })).content;
        try { await sys.declassify(h, ['pin' + pin]); return 'declassified'; } catch (e) { return e.code; }
      }`,
    });
    expect(run).toMatchObject({ ok: true, value: 'E_CAP_DENIED', label: ['secret'] });
    const declassify = kernel.audit.records({ limit: 10_000 }).filter((record) => record.syscall === 'declassify');
    expect(declassify).toHaveLength(2);
    for (const record of declassify) expect(record.resource).toMatch(/^redacted:hmac-sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(kernel.audit.records({ limit: 10_000 }))).not.toContain(`pin${PIN}`);
  });

  it('a parent labelled secret cannot name its child namespace; a clean one can', async () => {
    kernel = secretKernel(isolation);
    const run = await kernel.run({
      code: `export default async () => {
        const child = 'export default async () => { await sys.log("hi"); }';
        await sys.join(await sys.spawn({ code: child, namespace: 'named' }));
        const s = (await sys.tool('echo', { s: 'k7q2m9x4' })).s;
        try { await sys.spawn({ code: child, namespace: 'n' + s }); return 'spawned'; } catch (e) { return ['joined', e.code]; }
      }`,
    });
    expect(run.ok ? run.value : run.error).toEqual(['joined', 'E_TAINT']);
    const records = kernel.audit.records({ limit: 10_000 });
    expect(records.some((record) => record.namespace === 'default/named')).toBe(true);
    expect(JSON.stringify(records)).not.toContain('k7q2m9x4');
  });

  it("a secret call's arguments digest is keyed: hashing every PIN finds nothing", async () => {
    kernel = secretKernel(isolation);
    const run = await kernel.run({
      code: `export default async () => {
        await sys.tool('noop', { text: '${PIN}' });
        const pin = (await sys.tool('echo', { pin: '${PIN}' })).pin;
        try { await sys.tool('noop', { text: pin }); return 'sent'; } catch (e) { return e.code; }
      }`,
    });
    expect(run).toMatchObject({ ok: true, value: 'E_TAINT' });
    const noop = kernel.audit.records({ limit: 10_000 }).filter((record) => record.action === 'noop');
    // The clean call's digest is the plain one; the secret call's (intent and outcome) is not any PIN's.
    const [clean, , refused, refusedOutcome] = noop;
    expect(clean?.label).toEqual([]);
    expect(clean?.args_sha256).toBe(digestArgs({ text: PIN }));
    expect(refused?.label).toEqual(['secret']);
    expect(refusedOutcome?.args_sha256).toBe(refused?.args_sha256);
    const guesses = new Set(Array.from({ length: 10_000 }, (_, n) => digestArgs({ text: String(n).padStart(4, '0') })));
    expect(guesses.has(refused?.args_sha256 ?? '')).toBe(false);
  });
});
