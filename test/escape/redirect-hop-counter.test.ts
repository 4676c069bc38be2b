// Attack: reading a labelled server's answer from the use counter its redirects debit (red-team pass 52). A mail
// server tagged `email` by a policy source redirects a search to the message when the mailbox holds the query. A
// clean agent searched for "PIN is <prefix><digit>", kept each answer in a handle, and read its counted `net.http`
// capability's remaining uses from `sys.caps()`: two debits meant a hit. Each hop was authorized, and its debit
// labelled, with the call's own (clean) label, though whether the hop happened was the tagged server's answer: the
// agent recovered the PIN and forwarded it clean. The defense: a hop is authorized, counted and audited with the
// label of everything the call has seen (the first resource's source tags, earlier hops', the tool's taints).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTool, type Kernel } from '../../index.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { recordingSink } from '../helpers/web-and-mail.js';

const MAILBOX = 'Your bank PIN is 4711. Regards';
let mail: TestServer;
beforeAll(async () => {
  mail = await startTestServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/search') {
      const q = url.searchParams.get('q') ?? '';
      if (q !== '' && MAILBOX.includes(q)) res.writeHead(302, { location: '/msg/1' }).end();
      else res.writeHead(200).end('no results');
    } else res.writeHead(200).end(MAILBOX);
  });
});
afterAll(async () => mail.close());

const AGENT = `export default async ({ origin }) => {
  const uses = async () => (await sys.caps()).find((c) => c.action === 'net.http').remainingUses;
  const steps = [];
  let pin = '';
  for (const d of [3, 4]) {
    const before = await uses();
    await sys.tool('net.http', { url: origin + '/search?q=' + encodeURIComponent('PIN is ' + d) }, { handle: true });
    const debits = before - (await uses());
    steps.push({ debits, label: await sys.label() });
    if (debits === 2) pin += d;
  }
  let forwarded = true;
  try { await sys.tool('forward', { body: pin }); } catch (e) { forwarded = e.code; }
  return { steps, forwarded };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it("a hop's debit carries the tagged answer that caused it", async () => {
    const forwarded: unknown[] = [];
    kernel = testKernel({
      isolation,
      tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] }), recordingSink('forward', ['email'], forwarded)],
      policy: {
        capabilities: [
          { action: 'net.http', resource: `${mail.origin}/**`, max_uses: 10_000 },
          { action: 'forward', resource: 'forward' },
        ],
        labels: { sources: [{ tool: 'net.http', resource: `${mail.origin}/**`, tags: ['email'] }] },
      },
    });
    const result = await kernel.run({ code: AGENT, input: { origin: mail.origin }, limits: { wall_ms: 60_000 } });
    // A miss debits once and leaves the counter clean; the hit's hop debit was decided by the tagged answer.
    expect(result).toMatchObject({
      ok: true,
      value: {
        steps: [
          { debits: 1, label: [] },
          { debits: 2, label: ['email', 'web'] },
        ],
        forwarded: 'E_TAINT',
      },
    });
    expect(forwarded).toEqual([]);
  });
});
