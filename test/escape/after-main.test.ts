// Attack: keep acting after main returned. FinalizationRegistry callbacks (now absent), WeakRefs, promise chains and
// syscalls scheduled from .then() after the return, a sys.tool('sleep') still pending at return. The
// kernel marks the agent ended the moment it reports, refuses every later syscall with E_KILLED (visible
// as 'syscall' events with refused: true), disposes the isolate, and reports the value main returned.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Kernel, KernelEvent, RunResult } from '../../index.js';
import { ISOLATION_MODES, recordingTool, testKernel, testToolsPolicy } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const LIMITS = { cpu_ms: 500, wall_ms: 2000, memory_mb: 64 };

  type SyscallEvent = Extract<KernelEvent, { type: 'syscall' }>;

  const events: Array<SyscallEvent | { type: 'exit'; agent: string }> = [];
  const { tool: record, calls: recorded, capability: recordCapability } = recordingTool(null);

  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({
      isolation,
      limits: LIMITS,
      tools: [record],
      policy: { capabilities: [...testToolsPolicy.capabilities, recordCapability] },
    });
    kernel.on('syscall', (event) => events.push(event));
    kernel.on('exit', (event) => events.push({ type: 'exit', agent: event.agent }));
  });
  afterAll(async () => {
    await kernel.close();
  });
  beforeEach(() => {
    recorded.length = 0;
    events.length = 0;
  });

  // Runs the agent, then waits a little for anything it scheduled, and returns the result and the
  // syscall events that came after its exit.
  async function runAndLinger(code: string): Promise<{ result: RunResult; late: SyscallEvent[] }> {
    const handle = kernel.spawn({ code });
    const result = await handle.result;
    expect(kernel.live()).not.toContain(handle.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const mine = events.filter((e) => e.agent === handle.id);
    const exitAt = mine.findIndex((e) => e.type === 'exit');
    expect(exitAt).toBeGreaterThanOrEqual(0);
    const late = mine.slice(exitAt + 1).filter((e): e is SyscallEvent => e.type === 'syscall');
    return { result, late };
  }

  // Every syscall the agent issued after it ended was refused with E_KILLED. A pending call that started
  // before the end may still complete on the host (its reply is dropped), so only calls with code E_KILLED
  // or refused: true are counted as late ones.
  function expectRefused(late: SyscallEvent[]): void {
    for (const event of late) {
      if (event.refused) expect(event.code).toBe('E_KILLED');
    }
  }

  describe('work scheduled after main returns', () => {
    it('syscalls from a .then() chain after the return are refused with E_KILLED', async () => {
      // Inline, the isolate's thread usually reaches the late calls while the kernel handles main's end, so they
      // arrive and are refused; whether they do is a race with the disposal (lost more often on Node 24). Every
      // attempt must be safe, and one of up to five must show the refusal, so the test cannot pass unexercised. A
      // sandbox host disposes the isolate as it reports main's end, before they run, so none reaches the kernel
      // at all (and none reaches the tool).
      let exercised = false;
      for (let attempt = 0; attempt < 5 && !exercised; attempt++) {
        const { result, late } = await runAndLinger(`export default async function main() {
  (async () => {
    for (let i = 0; i < 20; i++) await null;
    for (let i = 0; i < 3; i++) { try { await sys.tool('record', 'late ' + i); } catch {} }
  })();
  return 'the value';
}`);
        expect(result).toMatchObject({ ok: true, value: 'the value' });
        expect(recorded).toEqual([]);
        expectRefused(late);
        exercised = isolation !== 'inline' || late.some((e) => e.refused && e.code === 'E_KILLED');
      }
      expect(exercised).toBe(true);
    });

    it('a synchronous flood of syscalls after the return is refused and stops', async () => {
      const { result, late } = await runAndLinger(`export default async function main() {
  (async () => { for (let i = 0; i < 20; i++) await null; for (;;) sys.tool('record', 'flood').catch(() => {}); })();
  return 1;
}`);
      expect(result).toMatchObject({ ok: true, value: 1 });
      expect(recorded).toEqual([]);
      expectRefused(late);
    });

    it('a sleep pending at return never resumes the agent', async () => {
      const { result, late } = await runAndLinger(`export default async function main() {
  sys.tool('sleep', { ms: 100 }).then(() => sys.tool('record', 'after sleep'));
  sys.tool('sleep', { ms: 100 }).finally(() => { for (;;); });
  return { pending: true };
}`);
      expect(result).toMatchObject({ ok: true, value: { pending: true } });
      expect(recorded).toEqual([]);
      expectRefused(late);
    });

    it('FinalizationRegistry is absent, and WeakRef callbacks get nothing done', async () => {
      const { result, late } = await runAndLinger(`export default async function main() {
  // Its callbacks ran from tasks V8 posts by itself, after the agent's end (red-team pass 74): not in the guest.
  if (typeof FinalizationRegistry !== 'undefined') return 'present';
  const ref = new WeakRef({ x: 1 });
  (async () => { for (let i = 0; i < 50; i++) await null; if (ref.deref() === undefined) sys.tool('record', 'collected'); })();
  // Churn so that a collection (and the finalizers) may run while the isolate still exists.
  let junk = [];
  for (let i = 0; i < 200; i++) junk.push(new Array(1000).fill(i));
  junk = null;
  return 'done';
}`);
      expect(result).toMatchObject({ ok: true, value: 'done' });
      expect(recorded).toEqual([]);
      expectRefused(late);
    });

    it('a loop after the return does not keep using CPU: the isolate is disposed', async () => {
      const { result } = await runAndLinger(`export default async function main() {
  (async () => { for (let i = 0; i < 20; i++) await null; for (;;); })();
  return 'returned';
}`);
      if (result.ok) expect(result.value).toBe('returned');
      else expect(result.error.code).toBe('E_QUOTA');
      const before = process.cpuUsage();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const used = process.cpuUsage(before);
      expect((used.user + used.system) / 1000).toBeLessThan(400);
      expect(kernel.live()).toEqual([]);
    });

    it('the agent is gone from kernel.live() as soon as its result is known', async () => {
      const handle = kernel.spawn({
        code: "export default async function main() { sys.tool('sleep', { ms: 1000 }); return 'quick'; }",
      });
      expect(kernel.live()).toContain(handle.id);
      const result = await handle.result;
      expect(result).toMatchObject({ ok: true, value: 'quick' });
      expect(kernel.live()).toEqual([]);
    });
  });
});
