// Attack: make the audit log say something false about what an agent did (red-team pass 77).
// 1. An agent starts a write and returns: the write completes after the agent ended, and its outcome read
//    `killed E_KILLED`, the status of a call refused before anything ran, so a review of `--status ok` missed it.
// 2. A host tool still running when the kernel closed (as `isokernel run` does once the agent returns) finished its
//    effect after the log had closed: three writes done, three intents, no outcome, and `audit verify` passed.
// 3. A live parent's `sys.join` of a child it killed was recorded `killed` (the status of a caller that had ended).
// 4. A handoff started a child, charged to `children`, and its outcome recorded no usage.
// 5. The host's own `submit` was not waited for at close (red-team pass 80): its write happened after the log closed.
// 6. A call that failed after its effect with a refusal's code was recorded `denied` (red-team pass 151): a POST the
//    server carried out, answered with a redirect the agent may not follow (E_CAP_DENIED), or with a body past the
//    tenant's held share (E_QUOTA); a host tool's result kept as a handle past that share. An agent with a full handle
//    table had every such call run and logged as refused.
// And the wait itself must not become the agent's: calls whose tool never settles hold `close` for its grace, no more.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpTool, createProcTool, defineTool, type Kernel } from '../../index.js';
import { MAX_HANDLES } from '../../runtime/labels/handles.js';
import { readAuditRecords } from '../helpers/audit-file.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { waitUntil } from '../helpers/wait.js';

const effects: string[] = [];
// A host tool that finishes its effect 200 ms after it starts and does not look at its abort signal.
const slowWrite = defineTool({
  name: 'slowwrite',
  description: 'writes after 200 ms',
  input: z.strictObject({ text: z.string() }),
  run: async ({ text }) => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    effects.push(text);
    return { written: true };
  },
});
// A host tool that never settles and ignores its abort signal.
const hang = defineTool({
  name: 'hang',
  description: 'never answers',
  input: z.unknown(),
  run: () => new Promise(() => {}),
});
const orders: number[] = [];
// A host tool whose effect happens 20 ms after it starts, then returns a 300 KiB receipt.
const order = defineTool({
  name: 'order',
  description: 'places an order',
  input: z.strictObject({ n: z.number() }),
  run: async ({ n }) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    orders.push(n);
    return 'r'.repeat(300 * 1024);
  },
});
const outcomesOf = (kernel: Kernel, action: string) =>
  kernel.audit
    .records({ limit: 10_000 })
    .filter((r) => r.action === action && r.phase === 'outcome')
    .map((r) => [r.status, r.code]);
const POLICY = {
  capabilities: [
    { action: 'slowwrite', resource: 'slowwrite' },
    { action: 'hang', resource: 'hang' },
    { action: 'agent.spawn', resource: '*' },
  ],
};
const START_AND_RETURN = `export default async () => {
  for (let i = 0; i < 3; i++) sys.tool('slowwrite', { text: 'w' + i }).catch(() => {});
}`;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('an effect that completes after its caller ended is recorded ok, with what it charged', async () => {
    effects.length = 0;
    kernel = testKernel({ isolation, tools: [slowWrite], policy: POLICY, limits: { wall_ms: 20_000 } });
    const result = await kernel.run({ code: START_AND_RETURN });
    expect(result.ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(effects).toHaveLength(3);
    const outcomes = kernel.audit
      .records({ limit: 1000 })
      .filter((r) => r.action === 'slowwrite' && r.phase === 'outcome');
    expect(outcomes.map((r) => [r.status, r.code, r.usage])).toEqual(
      Array.from({ length: 3 }, () => ['ok', null, { tool_calls: 1 }]),
    );
  }, 30_000);

  it('closing the kernel waits for the calls in flight: every effect that happened has its outcome on disk', async () => {
    effects.length = 0;
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-false-outcomes-'));
    dirs.push(dir);
    const file = join(dir, 'audit.jsonl');
    const closing = testKernel({ isolation, tools: [slowWrite], policy: POLICY, audit: { file, fsync: 'always' } });
    const result = await closing.run({ code: START_AND_RETURN });
    expect(result.ok).toBe(true);
    await closing.close();
    expect(effects).toHaveLength(3);
    const records = readAuditRecords(file).filter((r) => r.action === 'slowwrite');
    expect(records.filter((r) => r.phase === 'intent')).toHaveLength(3);
    expect(records.filter((r) => r.phase === 'outcome').map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
  }, 30_000);

  it("closing the kernel waits for the host's own calls too: a submit's outcome is on disk", async () => {
    effects.length = 0;
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-false-outcomes-'));
    dirs.push(dir);
    const file = join(dir, 'audit.jsonl');
    const closing = testKernel({ isolation, tools: [slowWrite], policy: POLICY, audit: { file, fsync: 'always' } });
    const submitted = closing.submit({ action: 'slowwrite', params: { text: 'host' } });
    await closing.close();
    expect(await submitted).toMatchObject({ status: 'OK' });
    expect(effects).toEqual(['host']);
    const records = readAuditRecords(file).filter((r) => r.action === 'slowwrite');
    expect(records.map((r) => [r.agent, r.phase, r.status])).toEqual([
      ['host', 'intent', null],
      ['host', 'outcome', 'ok'],
    ]);
  }, 30_000);

  it('calls that never settle hold close for its 2 s grace, no longer, and keep their intents without outcome', async () => {
    const closing = testKernel({ isolation, tools: [hang], policy: POLICY, limits: { wall_ms: 20_000 } });
    const run = closing.spawn({
      code: `export default async () => {
        const calls = [];
        for (let i = 0; i < 50; i++) calls.push(sys.tool('hang', i).catch(() => {}));
        await sys.log('started');
        await new Promise(() => {});
      }`,
    });
    await new Promise<void>((resolve) => closing.on('log', () => resolve()));
    const started = performance.now();
    await closing.close();
    const took = performance.now() - started;
    expect(took).toBeGreaterThan(1_900);
    expect(took).toBeLessThan(5_000);
    expect(await run.result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
    const hung = closing.audit.records({ limit: 1000 }).filter((r) => r.action === 'hang');
    expect(hung.map((r) => r.phase)).toEqual(Array(50).fill('intent'));
  }, 30_000);

  it("a live parent's join of a child it killed is recorded as an error, not as a killed caller", async () => {
    kernel = testKernel({ isolation, tools: [slowWrite], policy: POLICY, limits: { wall_ms: 20_000 } });
    kernel.programs.add('sleeper', 'export default () => new Promise((resolve) => setTimeout(resolve, 5000))');
    const result = await kernel.run({
      code: `export default async () => {
        const id = await sys.spawn({ program: 'sleeper' });
        await sys.kill(id);
        try { await sys.join(id); } catch (e) { return e.code; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_KILLED' });
    const join = kernel.audit.records({ limit: 1000 }).find((r) => r.syscall === 'join' && r.phase === 'outcome');
    expect(join).toMatchObject({ status: 'error', code: 'E_KILLED' });
  }, 30_000);

  it("a result past the tenant's held share fails after the effect: an error, not a denial", async () => {
    orders.length = 0;
    kernel = testKernel({
      isolation,
      maxHeldBytesPerTenant: 256 * 1024,
      tools: [order],
      policy: { capabilities: [{ action: 'order', resource: 'order' }] },
    });
    const result = await kernel.run({
      code: `export default async () => {
        try { await sys.tool('order', { n: 1 }, { handle: true }); return 'kept'; } catch (e) { return e.code; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_QUOTA' });
    expect(orders).toEqual([1]);
    expect(outcomesOf(kernel, 'order')).toEqual([['error', 'E_QUOTA']]);
  }, 30_000);

  it('a program that started, its caller ended while it ran, is not recorded killed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-outcome-'));
    dirs.push(dir);
    kernel = testKernel({
      isolation,
      tools: [createProcTool({ roots: [dir], programs: { sleep: { path: '/usr/bin/sleep' } } })],
      policy: {
        capabilities: [
          { action: 'proc.exec', resource: 'sleep' },
          { action: 'sleep', resource: 'sleep' },
        ],
      },
    });
    const result = await kernel.run({
      code: `export default async () => {
        sys.tool('proc.exec', { program: 'sleep', args: ['10'] }).catch(() => {});
        await sys.tool('sleep', { ms: 800 });
      }`,
    });
    expect(result.ok).toBe(true);
    await waitUntil(() => outcomesOf(kernel!, 'proc.exec').length > 0);
    expect(outcomesOf(kernel, 'proc.exec')).toEqual([['error', 'E_KILLED']]);
  }, 30_000);

  // An agent that keeps `count` handles, then runs `then`.
  const withHandles = (count: number, then: string) => {
    orders.length = 0;
    kernel = testKernel({
      isolation,
      tools: [order],
      policy: {
        capabilities: [
          { action: 'order', resource: 'order' },
          { action: 'echo', resource: 'echo' },
        ],
      },
      limits: { wall_ms: 60_000, cpu_ms: 60_000 },
    });
    return kernel.run({
      code: `export default async () => {
        const held = [];
        for (let i = 0; i < ${count}; i++) held.push(await sys.tool('echo', { s: 'z' }, { handle: true }));
        ${then}
      }`,
    });
  };

  it('a full handle table refuses a call kept as a handle before the tool runs', async () => {
    const result = await withHandles(
      MAX_HANDLES,
      `try { await sys.tool('order', { n: 2 }, { handle: true }); return 'kept'; } catch (e) { return e.code; }`,
    );
    expect(result).toMatchObject({ ok: true, value: 'E_QUOTA' });
    expect(orders).toEqual([]);
    expect(outcomesOf(kernel!, 'order')).toEqual([['denied', 'E_QUOTA']]);
  }, 60_000);

  it('calls at once for the last place in the handle table: one runs, the rest are refused before their effect', async () => {
    const result = await withHandles(
      MAX_HANDLES - 1,
      `return Promise.all([1, 2, 3, 4, 5].map((n) =>
        sys.tool('order', { n }, { handle: true }).then(() => 'kept', (e) => e.code)));`,
    );
    expect(result).toMatchObject({ ok: true, value: ['kept', 'E_QUOTA', 'E_QUOTA', 'E_QUOTA', 'E_QUOTA'] });
    expect(orders).toEqual([1]);
    // Sorted: the one that ran is recorded after the refusals.
    expect(outcomesOf(kernel!, 'order').sort()).toEqual([
      ['denied', 'E_QUOTA'],
      ['denied', 'E_QUOTA'],
      ['denied', 'E_QUOTA'],
      ['denied', 'E_QUOTA'],
      ['ok', null],
    ]);
  }, 60_000);

  describe('net.http', () => {
    const servers: TestServer[] = [];
    afterEach(async () => {
      for (const server of servers.splice(0)) await server.close();
    });
    // An agent that POSTs `body` to `server` and returns the code of its failure.
    const post = (server: TestServer, body: string, options: { maxHeldBytesPerTenant?: number } = {}) => {
      kernel = testKernel({
        isolation,
        ...options,
        tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
        policy: { capabilities: [{ action: 'net.http', resource: `${server.origin}/**` }] },
      });
      return kernel.run({
        code: `export default async () => {
          try { await sys.tool('net.http', { url: '${server.origin}/order', method: 'POST', body: '${body}' }); }
          catch (e) { return e.code; }
        }`,
        limits: { memory_mb: 256 },
      });
    };

    it('a POST answered with a redirect the agent may not follow is an error: the server carried it out', async () => {
      const other = await startTestServer((_req, res) => res.end('receipt'));
      const bank = await startTestServer((_req, res) => res.writeHead(303, { location: `${other.origin}/r` }).end());
      servers.push(other, bank);
      const result = await post(bank, 'amount=1000');
      expect(result).toMatchObject({ ok: true, value: 'E_CAP_DENIED' });
      expect(bank.requests.map((r) => r.body.toString())).toEqual(['amount=1000']);
      expect(other.requests).toEqual([]);
      // The call's outcome, then the hop's own pair: the hop never happened.
      expect(outcomesOf(kernel!, 'net.http')).toEqual([
        ['denied', 'E_CAP_DENIED'],
        ['error', 'E_CAP_DENIED'],
      ]);
    }, 30_000);

    it('a POST the server received, its caller ended before the answer, is not recorded killed', async () => {
      const bank = await startTestServer((_req, res) => setTimeout(() => res.end('ok'), 3000));
      servers.push(bank);
      kernel = testKernel({
        isolation,
        tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
        policy: {
          capabilities: [
            { action: 'net.http', resource: `${bank.origin}/**` },
            { action: 'sleep', resource: 'sleep' },
          ],
        },
      });
      const result = await kernel.run({
        code: `export default async () => {
          sys.tool('net.http', { url: '${bank.origin}/order', method: 'POST', body: 'buy=1' }).catch(() => {});
          await sys.tool('sleep', { ms: 800 });
        }`,
      });
      expect(result.ok).toBe(true);
      await waitUntil(() => outcomesOf(kernel!, 'net.http').length > 0);
      expect(bank.requests.map((r) => r.body.toString())).toEqual(['buy=1']);
      expect(outcomesOf(kernel, 'net.http')).toEqual([['error', 'E_TOOL_FAILED']]);
    }, 30_000);

    it("a POST whose answer is past the tenant's held share is an error: the server carried it out", async () => {
      const bank = await startTestServer((_req, res) => res.end('x'.repeat(2 * 1024 * 1024)));
      servers.push(bank);
      const result = await post(bank, 'buy=1', { maxHeldBytesPerTenant: 256 * 1024 });
      expect(result).toMatchObject({ ok: true, value: 'E_QUOTA' });
      expect(bank.requests).toHaveLength(1);
      expect(outcomesOf(kernel!, 'net.http')).toEqual([['error', 'E_QUOTA']]);
    }, 30_000);
  });

  it('a handoff records the child it was charged for', async () => {
    kernel = testKernel({ isolation, limits: { wall_ms: 20_000 } });
    kernel.programs.add('idle', 'export default () => 1');
    const result = await kernel.run({ code: `export default () => sys.handoff({ to: 'idle' })` });
    expect(result).toMatchObject({ ok: true, value: 1 });
    expect(result.usage.children).toBe(1);
    const handoff = kernel.audit.records({ limit: 1000 }).find((r) => r.syscall === 'handoff' && r.phase === 'outcome');
    expect(handoff?.usage).toEqual({ children: 1 });
  }, 30_000);
});
