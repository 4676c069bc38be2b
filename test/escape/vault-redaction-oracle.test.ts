// Attack: read a vault secret through the scrub itself (red-team pass 46). The kernel replaces every stored
// secret in a result or an error message by `[vault:<ref>]`, whatever the call. An agent that sends its own
// guesses through a tool that hands them back (the test `echo` tool; its own file written and read back with
// the built-in fs tools) sees which guess was replaced: before the fix it read a 4-digit PIN and a dictionary
// password back in clear, with an empty label, in two calls, and could send them anywhere. Now what a scrub
// touched carries the vault's tag (`secret`), so a sink that refuses `secret` refuses the guess that matched,
// and every later call carries the tag. The agent still learns which guess matched; it cannot send it out.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel, KernelError } from '../../index.js';
import { createFsTools } from '../../tools/fs.js';
import { createHttpTool } from '../../tools/http.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';

const PIN = '7315';
const BASIC = `Basic ${Buffer.from('admin:sunshine42').toString('base64')}`;
const BIND = { action: 'net.http', resource: 'https://api.example.com/**' };

/** A tool whose error quotes its argument (as a tool quoting what it read or was given would). */
const complainTool = defineTool({
  name: 'complain',
  description: 'fails with its message',
  input: z.strictObject({ message: z.string() }),
  run: (args) => {
    throw new KernelError('E_TOOL_FAILED', args.message);
  },
});

/** A sink that refuses `secret` in any argument and records what it was sent. */
function postTool(sent: unknown[]) {
  return defineTool({
    name: 'post',
    description: 'sends its body out',
    input: z.strictObject({ body: z.unknown() }),
    labels: { sinks: { '*': ['secret'] } },
    run: (args) => {
      sent.push(args.body);
      return 'sent';
    },
  });
}

// Guesses every 4-digit PIN and a small dictionary of Basic-auth headers through `echo`, then tries to post
// what it found. `hit` says whether the scrub replaced a guess; a benign run sends guesses that match nothing.
const ORACLE_AGENT = `
export default async function main({ pins: pinCount, words }) {
  const pins = [];
  for (let i = 0; i < pinCount; i++) pins.push(String(i).padStart(4, '0'));
  const back = await sys.tool('echo', { c: pins });
  const pin = pins.find((p, i) => back.c[i] !== p);
  const guesses = [];
  for (const w of words) for (let n = 0; n < 100; n++) guesses.push('Basic ' + btoa('admin:' + w + n));
  const r = await sys.tool('echo', { c: guesses });
  const at = r.c.findIndex((x, k) => x !== guesses[k]);
  const password = at >= 0 ? atob(guesses[at].slice(6)) : undefined;
  let posted;
  try {
    posted = await sys.tool('post', { body: { pin, password } });
  } catch (e) {
    posted = e.code;
  }
  return { hit: pin !== undefined || password !== undefined, posted, label: await sys.label() };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  function kernelWithVault(sent: unknown[]): Kernel {
    const kernel = testKernel({
      isolation,
      tools: [postTool(sent), complainTool],
      policy: {
        capabilities: [
          ...testToolsPolicy.capabilities,
          { action: 'post', resource: 'post' },
          { action: 'complain', resource: 'complain' },
        ],
      },
    });
    kernel.vault.set('pin', PIN, { bind: BIND, inject: { header: 'X-Pin' } });
    kernel.vault.set('basic', BASIC, { bind: BIND, inject: { header: 'Authorization' } });
    return kernel;
  }

  it('a guess the scrub replaced carries `secret`: the sink refuses it and nothing is sent', async () => {
    const sent: unknown[] = [];
    const kernel = kernelWithVault(sent);
    try {
      const words = ['password', 'letmein', 'sunshine', 'dragon'];
      const result = await kernel.run({ code: ORACLE_AGENT, input: { pins: 10000, words } });
      expect(result).toMatchObject({ ok: true, value: { hit: true, posted: 'E_TAINT', label: ['secret'] } });
      expect(sent).toEqual([]);
    } finally {
      await kernel.close();
    }
  });

  it('benign twin: guesses that match nothing keep the label empty and are sent', async () => {
    const sent: unknown[] = [];
    const kernel = kernelWithVault(sent);
    try {
      const result = await kernel.run({ code: ORACLE_AGENT, input: { pins: 7000, words: ['dragon'] } });
      expect(result).toMatchObject({ ok: true, value: { hit: false, posted: 'sent', label: [] } });
      expect(sent).toHaveLength(1);
    } finally {
      await kernel.close();
    }
  });

  it('an error message the scrub touched carries `secret` too', async () => {
    const sent: unknown[] = [];
    const kernel = kernelWithVault(sent);
    try {
      const result = await kernel.run({
        code: `export default async function main() {
  let message;
  try { await sys.tool('complain', { message: 'code 7315' }); } catch (e) { message = e.message; }
  return { message, label: await sys.label() };
}`,
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) return;
      const value = result.value as { message: string; label: string[] };
      expect(value.message).toContain('[vault:pin]');
      expect(value.label).toEqual(['secret']);
    } finally {
      await kernel.close();
    }
  });

  it('with the built-in fs tools only: the agent’s own file read back carries `secret`', async () => {
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-vault-oracle-')));
    const sent: unknown[] = [];
    const kernel = Kernel.create({
      isolation,
      policy: {
        capabilities: [
          ...['fs.read', 'fs.write'].map((action) => ({ action, resource: `${base}/**` })),
          { action: 'post', resource: 'post' },
        ],
      },
      tools: [...createFsTools({ roots: [base] }), postTool(sent)],
    });
    kernel.vault.set('pin', PIN, { bind: BIND, inject: { header: 'X-Pin' } });
    try {
      const result = await kernel.run({
        code: `export default async function main() {
  const pins = [];
  for (let i = 0; i < 10000; i++) pins.push(String(i).padStart(4, '0'));
  await sys.tool('fs.write', { path: 'mine.txt', content: pins.join(' ') });
  const words = (await sys.tool('fs.read', { path: 'mine.txt' })).content.split(' ');
  const pin = pins.find((p, i) => words[i] !== p);
  let posted;
  try { posted = await sys.tool('post', { body: pin }); } catch (e) { posted = e.code; }
  return { found: pin !== undefined, posted, label: await sys.label() };
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { found: true, posted: 'E_TAINT', label: ['secret'] } });
      expect(sent).toEqual([]);
    } finally {
      await kernel.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});

// The secret's own endpoint reflects the request (its headers and its body) back. What it reflects of the
// injected header tells the agent nothing it could send out; guesses sent in the same call do.
describe.each(ISOLATION_MODES)('%s tier, through the endpoint the secret is bound to', (isolation) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ pin: req.headers['x-pin'] ?? null, body: req.body.toString('utf8') }));
    });
  });
  afterAll(async () => {
    await server.close();
  });

  async function run(code: string): Promise<unknown> {
    const kernel = Kernel.create({
      isolation,
      policy: { capabilities: [{ action: 'net.http', resource: `${server.origin}/**` }] },
      tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
    });
    kernel.vault.set('pin', PIN, {
      bind: { action: 'net.http', resource: `${server.origin}/**` },
      inject: { header: 'X-Pin' },
    });
    try {
      const result = await kernel.run({ code });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      return result.ok ? result.value : undefined;
    } finally {
      await kernel.close();
    }
  }

  // The trade-off of red-team pass 47: exempting the reflection of the call's own injected secret let a bound
  // endpoint that reflects a decoded field, a header name or a redirect target carry guesses past the scrub.
  it('the reflection of the injected secret alone carries `secret` too: a later net.http call is refused', async () => {
    const value = await run(`export default async function main() {
  const first = JSON.parse((await sys.tool('net.http', { url: '${server.origin}/echo', method: 'POST', body: 'hello' })).body);
  let second;
  try { second = (await sys.tool('net.http', { url: '${server.origin}/again' })).status; } catch (e) { second = e.code; }
  return { first, second, label: await sys.label() };
}`);
    expect(value).toMatchObject({
      first: { pin: '[vault:pin]', body: 'hello' },
      second: 'E_TAINT',
      label: ['secret', 'web'],
    });
  });

  it('a body the tool decodes (body_base64) does not hide the guesses: the reflection carries `secret`', async () => {
    const value = await run(`export default async function main() {
  const pins = [];
  for (let i = 0; i < 10000; i++) pins.push(String(i).padStart(4, '0'));
  const r = await sys.tool('net.http', { url: '${server.origin}/echo', method: 'POST', body_base64: btoa(pins.join(' ')) });
  const words = JSON.parse(r.body).body.split(' ');
  return { found: pins.some((p, i) => words[i] !== p), label: await sys.label() };
}`);
    expect(value).toMatchObject({ found: true, label: ['secret', 'web'] });
  });

  it('guesses sent beside the injected secret make the call carry `secret`', async () => {
    const value = await run(`export default async function main() {
  const pins = [];
  for (let i = 0; i < 10000; i++) pins.push(String(i).padStart(4, '0'));
  const r = await sys.tool('net.http', { url: '${server.origin}/echo', method: 'POST', body: pins.join(' ') });
  const words = JSON.parse(r.body).body.split(' ');
  const pin = pins.find((p, i) => words[i] !== p);
  let next;
  try { next = (await sys.tool('net.http', { url: '${server.origin}/out?pin=' + pin })).status; } catch (e) { next = e.code; }
  return { found: pin !== undefined, next, label: await sys.label() };
}`);
    expect(value).toMatchObject({ found: true, next: 'E_TAINT', label: ['secret', 'web'] });
    expect(server.requests.some((request) => request.url.startsWith('/out'))).toBe(false);
  });
});

// A hostile server a harmless agent talks to redirects it to URLs full of guesses. Whether the kernel follows a
// redirect must not depend on whether a guess is a vault secret: refusing targets that carried any stored
// secret told the server, by which redirects never arrived, which batch held the PIN (red-team pass 47: a
// 4-digit PIN in 4 runs of an agent that only fetched one URL).
describe.each(ISOLATION_MODES)('%s tier, redirected by a hostile server', (isolation) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/start') {
        res.writeHead(302, { location: `/b?g=${url.searchParams.get('batch') ?? ''}` });
        res.end();
        return;
      }
      res.end('ok');
    });
  });
  afterAll(async () => {
    await server.close();
  });

  async function fetchBatch(
    batch: string,
  ): Promise<{ result: unknown; arrived: boolean; hop: string | null | undefined }> {
    const kernel = Kernel.create({
      isolation,
      policy: { capabilities: [{ action: 'net.http', resource: `${server.origin}/**` }] },
      tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
    });
    kernel.vault.set('pin', PIN, {
      bind: { action: 'net.http', resource: 'https://bank.example.com/**' },
      inject: { header: 'X-Pin' },
    });
    const before = server.requests.length;
    try {
      const result = await kernel.run({
        code: `export default async function main() {
  const r = await sys.tool('net.http', { url: '${server.origin}/start?batch=${batch}' });
  return { status: r.status, label: await sys.label() };
}`,
      });
      const arrived = server.requests.slice(before).some((request) => request.url.startsWith('/b?'));
      // The call's own intent names /start; the redirect's hop is the next tool intent.
      const hop = kernel.audit
        .records({ limit: 10_000 })
        .filter((record) => record.syscall === 'tool' && record.phase === 'intent')[1]?.resource;
      return { result: result.ok ? result.value : result.error, arrived, hop };
    } finally {
      await kernel.close();
    }
  }

  it('a batch holding the PIN is followed like one that does not; the answer carries `secret`', async () => {
    const hit = await fetchBatch(['0001', PIN, '0002'].join(','));
    const miss = await fetchBatch(['0001', '0003', '0002'].join(','));
    expect(hit.arrived).toBe(true);
    expect(miss.arrived).toBe(true);
    expect(hit.result).toEqual({ status: 200, label: ['secret', 'web'] });
    expect(miss.result).toEqual({ status: 200, label: ['web'] });
    // The hop's audit record keeps a digest of a target that carried a secret, not the target.
    expect(hit.hop).toMatch(/^redacted:hmac-sha256:/);
    expect(miss.hop).toContain('/b?g=0001,0003,0002');
  });
});

// The outcome of a call that touched a secret is in the audit log, which other agents read with sys.audit.
describe.each(ISOLATION_MODES)('%s tier, through the audit log', (isolation) => {
  it('the outcome record of such a call carries `secret`, so reading it raises the reader', async () => {
    const kernel = testKernel({ isolation });
    kernel.vault.set('pin', PIN, { bind: BIND, inject: { header: 'X-Pin' } });
    try {
      const guesser = await kernel.run({
        code: `export default async function main() { await sys.tool('echo', { guesses: ['0000', '${PIN}'] }); }`,
      });
      expect(guesser.ok, JSON.stringify(guesser)).toBe(true);
      const records = kernel.audit.records({ limit: 10_000 }).filter((record) => record.syscall === 'tool');
      // The call began with the agent's clean label; its outcome carries what it touched.
      expect(records.map((record) => [record.phase, record.label])).toEqual([
        ['intent', []],
        ['outcome', ['secret']],
      ]);
      const reader = await kernel.run({
        code: `export default async function main() {
  const records = await sys.audit({ after: -1, limit: 1000 });
  return { read: records.length > 0, label: await sys.label() };
}`,
      });
      expect(reader).toMatchObject({ ok: true, value: { read: true, label: ['secret'] } });
    } finally {
      await kernel.close();
    }
  });
});

// A scrubbed result kept as a handle leaves the agent clean, but `[vault:pin]` is 7 characters longer than the
// PIN: a refusal that depends on the handle's size says whether the scrub replaced anything. Before, an agent
// padded mem.put values and spawn inputs to the payload cap, or filled its tenant's share to the byte, and read a
// PIN with a clean label in 14-15 calls (red-team pass 48). Such refusals now raise the caller by the value's label.
describe.each(ISOLATION_MODES)('%s tier, through the size of a scrubbed handle', (isolation) => {
  const CAP = 64 * 1024;
  function sizeKernel(options: { maxStoredBytesPerTenant?: number } = {}): Kernel {
    const kernel = testKernel({
      isolation,
      maxPayloadBytes: CAP,
      ...options,
      policy: {
        capabilities: [
          { action: 'echo', resource: 'echo' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    kernel.programs.add('size', 'export default async (input) => JSON.stringify(input).length');
    kernel.vault.set('pin', PIN, { bind: BIND, inject: { header: 'X-Pin' } });
    return kernel;
  }
  // Refused whatever the handle holds (twice the handle passes the cap); the label after says what it raised.
  function refusedWith(guess: string, attempt: string): string {
    return `export default async function main() {
  const h = await sys.tool('echo', '${guess} ' + 'x'.repeat(${CAP / 2}), { handle: true });
  const padded = [h, h];
  const before = await sys.label();
  let code;
  try { ${attempt}; } catch (e) { code = e.code; }
  return { before, code, after: await sys.label() };
}`;
  }

  for (const [name, attempt] of [
    ['mem.put over the payload cap', "await sys.mem.put('k', padded)"],
    ['sys.spawn with an input over the payload cap', "await sys.spawn({ program: 'size', input: padded })"],
  ] as const) {
    it(`${name}: refused, and the caller takes the handle's label`, async () => {
      const kernel = sizeKernel();
      try {
        const hit = await kernel.run({ code: refusedWith(PIN, attempt) });
        expect(hit).toMatchObject({ ok: true, value: { before: [], code: 'E_BAD_ARG', after: ['secret'] } });
        const miss = await kernel.run({ code: refusedWith('7316', attempt) });
        expect(miss).toMatchObject({ ok: true, value: { before: [], code: 'E_BAD_ARG', after: [] } });
      } finally {
        await kernel.close();
      }
    });
  }

  it("mem.put refused by the tenant's share: the caller takes the value's label", async () => {
    const kernel = sizeKernel({ maxStoredBytesPerTenant: 64 * 1024 });
    try {
      const result = await kernel.run({
        code: `export default async function main() {
  const h = await sys.tool('echo', '${PIN} ' + 'y'.repeat(40000), { handle: true });
  let code;
  try { await sys.mem.put('k', h); } catch (e) { code = e.code; }
  return { code, after: await sys.label() };
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { code: 'E_QUOTA', after: ['secret'] } });
    } finally {
      await kernel.close();
    }
  });
});

// The audit log itself: a resource that carries a guess that matched was written in clear in the intent record
// (only the outcome was marked), and the digests of redacted resources were plain SHA-256, undone by hashing
// 10,000 PINs (red-team pass 48).
describe('the audit log keeps no matched guess', () => {
  it('a resource carrying a vault secret is stored as a keyed digest, intent and outcome', async () => {
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-vault-audit-')));
    const kernel = Kernel.create({
      policy: { capabilities: [{ action: 'fs.read', resource: `${base}/**` }] },
      tools: createFsTools({ roots: [base] }),
    });
    kernel.vault.set('pin', PIN, { bind: BIND, inject: { header: 'X-Pin' } });
    try {
      await kernel.run({
        code: `export default async function main() {
  for (const guess of ['7314', '${PIN}']) { try { await sys.tool('fs.read', { path: guess + '.txt' }); } catch {} }
}`,
      });
      const reads = kernel.audit.records({ limit: 10_000 }).filter((record) => record.action === 'fs.read');
      expect(reads.map((record) => record.resource)).toEqual([
        `${base}/7314.txt`,
        `${base}/7314.txt`,
        expect.stringMatching(/^redacted:hmac-sha256:[0-9a-f]{64}$/),
        expect.stringMatching(/^redacted:hmac-sha256:[0-9a-f]{64}$/),
      ]);
      const { createHash } = await import('node:crypto');
      const plain = createHash('sha256').update(`${base}/${PIN}.txt`).digest('hex');
      expect(JSON.stringify(kernel.audit.records({ limit: 10_000 }))).not.toContain(plain);
    } finally {
      await kernel.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});

// Bounds shared with labelled data: how full they are depends on the sizes of what they hold, and an agent
// filled them to the byte to measure its own unread handles (red-team pass 49: the kernel's held-memory pool and
// a namespace's 16 MiB each read a vault PIN in 14 steps with a clean label). Their refusals now carry the labels
// of what they hold (ObservedRefusal).
describe.each(ISOLATION_MODES)('%s tier, through a bound that labelled data fills', (isolation) => {
  const secretSource = defineTool({
    name: 'vaultish',
    description: 'returns labelled text of the size asked for',
    input: z.strictObject({ size: z.number().int().min(0).max(4_000_000) }),
    labels: { source: ['secret'] },
    run: (args) => 's'.repeat(args.size),
  });
  function boundKernel(options: { maxHeldBytes?: number; maxHeldBytesPerTenant?: number } = {}): Kernel {
    return testKernel({
      isolation,
      ...options,
      limits: { memory_mb: 512 },
      tools: [secretSource],
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'vaultish', resource: 'vaultish' }] },
    });
  }

  it("a call refused by the kernel's held-memory pool takes the labels of what the pool holds", async () => {
    // The agents' half of a 4 MiB pool: 2 MiB, which one tenant may fill here. A labelled handle of ~1.6 MB (two
    // bytes a character) fills most of it.
    const kernel = boundKernel({ maxHeldBytes: 4 * 1024 * 1024, maxHeldBytesPerTenant: 4 * 1024 * 1024 });
    try {
      const result = await kernel.run({
        code: `export default async function main() {
  const h = await sys.tool('vaultish', { size: 800000 }, { handle: true });
  const before = await sys.label();
  let code;
  try { await sys.tool('echo', { big: 'c'.repeat(500000) }); } catch (e) { code = e.code; }
  return { before, code, after: await sys.label() };
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { before: [], code: 'E_QUOTA', after: ['secret'] } });
    } finally {
      await kernel.close();
    }
  });

  it("a put refused by the tenant's share takes the labels of a labelled child's snapshot in it", async () => {
    // Red-team pass 50: a child read labelled data and snapshotted state sized by it; its clean parent measured
    // the share with refused puts and read a PIN in one run.
    const kernel = testKernel({
      isolation,
      maxStoredBytesPerTenant: 64 * 1024,
      tools: [secretSource],
      policy: {
        capabilities: [
          ...testToolsPolicy.capabilities,
          { action: 'vaultish', resource: 'vaultish' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    kernel.programs.add(
      'sizer',
      `export default async function main() { const s = await sys.tool('vaultish', { size: 20000 }); await sys.snapshot({ s }); }`,
    );
    try {
      const result = await kernel.run({
        code: `export default async function main() {
  // A budget of its own: the labelled child's use of a shared one would label the parent (quota.ts).
  const child = await sys.spawn({ program: 'sizer', caps: [{ action: 'vaultish', resource: 'vaultish' }], budget: { cpu_ms: 5000, syscalls: 5000, children: 0 } });
  await sys.join(child, { handle: true });
  const before = await sys.label();
  let code;
  try { await sys.mem.put('big', 'c'.repeat(20000)); } catch (e) { code = e.code; }
  return { before, code, after: await sys.label() };
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { before: [], code: 'E_QUOTA', after: ['secret'] } });
    } finally {
      await kernel.close();
    }
  });

  it('a snapshot refused by its 4 MiB bound on namespace memory takes the labels of the entries counted', async () => {
    // Red-team pass 51: clean children padded their namespaces to the bound beside a stored unread handle, and
    // which snapshots were refused spelled the PIN to their parent.
    const kernel = boundKernel();
    try {
      const result = await kernel.run({
        code: `export default async function main() {
  const h = await sys.tool('vaultish', { size: 1000 }, { handle: true });
  await sys.mem.put('labelled', h);
  for (let i = 0; i < 5; i++) await sys.mem.put('pad-' + i, 'c'.repeat(900000));
  const before = await sys.label();
  let code;
  try { await sys.snapshot(null); } catch (e) { code = e.code; }
  return { before, code, after: await sys.label() };
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { before: [], code: 'E_QUOTA', after: ['secret'] } });
    } finally {
      await kernel.close();
    }
  });

  it("a key's absence takes the labels of the namespace's entries (get and delete, with or without a handle)", async () => {
    // Red-team pass 51's lead: a labelled child writes a key named after what it read, and its clean parent probes
    // for it; which keys are absent is data of whoever could have written them.
    const kernel = boundKernel();
    try {
      const probe = (call: string) => `export default async function main() {
  await sys.mem.put('clean', 'x');
  const missingBefore = await ${call};
  const before = await sys.label();
  const h = await sys.tool('vaultish', { size: 10 }, { handle: true });
  await sys.mem.put('labelled', h);
  const stillClean = await sys.label();
  const missing = await ${call};
  return { missingBefore, before, stillClean, missing, after: await sys.label() };
}`;
      const calls = ["sys.mem.get('d0_7', { handle: true })", "sys.mem.get('d0_7')", "sys.mem.delete('d0_7')"];
      for (const [i, call] of calls.entries()) {
        const result = await kernel.run({ namespace: `absence-${i}`, code: probe(call) });
        const missing = call.startsWith('sys.mem.delete') ? false : undefined;
        expect(result, call).toMatchObject({
          ok: true,
          value: { before: [], stillClean: [], after: ['secret'] },
        });
        if (result.ok) {
          const value = result.value as { missingBefore: unknown; missing: unknown };
          expect([value.missingBefore, value.missing], call).toEqual([missing, missing]);
        }
      }
    } finally {
      await kernel.close();
    }
  });

  it("a put refused by a namespace's bounds takes the labels of the entries it holds", async () => {
    const kernel = boundKernel();
    try {
      const result = await kernel.run({
        code: `export default async function main() {
  const h = await sys.tool('vaultish', { size: 900000 }, { handle: true });
  await sys.mem.put('labelled', h);
  const before = await sys.label();
  let code;
  try {
    for (let i = 0; i < 40; i++) await sys.mem.put('clean-' + i, 'c'.repeat(900000));
  } catch (e) { code = e.code; }
  return { before, code, after: await sys.label() };
}`,
      });
      expect(result).toMatchObject({ ok: true, value: { before: [], code: 'E_QUOTA', after: ['secret'] } });
    } finally {
      await kernel.close();
    }
  });
});

describe('kernel.submit', () => {
  it('a result the scrub touched is labelled `secret`; one it did not keeps its label', async () => {
    const kernel = testKernel({
      tools: [complainTool],
      policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'complain', resource: 'complain' }] },
    });
    kernel.vault.set('pin', PIN, { bind: BIND, inject: { header: 'X-Pin' } });
    try {
      const hit = await kernel.submit({ action: 'echo', params: { text: 'try 7315' } });
      expect(hit).toMatchObject({ status: 'OK', data: { text: 'try [vault:pin]' }, label: ['secret'] });
      const miss = await kernel.submit({ action: 'echo', params: { text: 'try 7316' } });
      expect(miss).toMatchObject({ status: 'OK', data: { text: 'try 7316' }, label: [] });
      const failed = await kernel.submit({ action: 'complain', params: { message: 'try 7315' } });
      expect(failed.error?.message).toContain('[vault:pin]');
      expect(failed.label).toEqual(['secret']);
    } finally {
      await kernel.close();
    }
  });
});
