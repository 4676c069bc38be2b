// Attack: make the audit log say something false about what an agent did (red-team pass 77).
// 1. An agent starts a write and returns: the write completes after the agent ended, and its outcome read
//    `killed E_KILLED`, the status of a call refused before anything ran, so a review of `--status ok` missed it.
// 2. A host tool still running when the kernel closed (as `isokernel run` does once the agent returns) finished its
//    effect after the log had closed: three writes done, three intents, no outcome, and `audit verify` passed.
// 3. A live parent's `sys.join` of a child it killed was recorded `killed` (the status of a caller that had ended).
// 4. A handoff started a child, charged to `children`, and its outcome recorded no usage.
// 5. The host's own `submit` was not waited for at close (red-team pass 80): its write happened after the log closed.
// And the wait itself must not become the agent's: calls whose tool never settles hold `close` for its grace, no more.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { readAuditRecords } from '../helpers/audit-file.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

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
