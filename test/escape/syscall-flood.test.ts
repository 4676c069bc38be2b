import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type Kernel, type RunResult } from '../../index.js';
import { bareCrossingCpuMs } from '../helpers/crossing-cpu.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack (red-team issue 12, item 5): a loop of synchronous `sys.log` calls ran 8 s with 0.3 s charged as agent
 * CPU and 8.5 s of host CPU, and wrote 89 MB of audit log. The kernel's time on each syscall is now charged to
 * the caller's `cpu_ms`, so the flood ends at its CPU limit, long before its wall limit, with most of the
 * host's CPU charged; and syscalls have a count budget (`syscalls`, set by the policy or `limits`), which
 * bounds the audit records one agent can cause.
 */
let kernel: Kernel | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function auditFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'isokernel-flood-'));
  dirs.push(dir);
  return join(dir, 'audit.jsonl');
}

// Runs `code` and measures the host process's CPU (every thread) and the wall time the run took.
async function measured(k: Kernel, code: string): Promise<{ result: RunResult; hostCpuMs: number; wallMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await k.run({ code });
  const used = process.cpuUsage(cpu);
  return { result, hostCpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - started };
}

const CPU_MS = 400;
const WALL_MS = 20_000;

describe('syscall floods', () => {
  it.each([
    ['synchronous sys.log calls', `export default async () => { for (;;) sys.log('x'); }`],
    [
      'awaited sys.mem.get calls',
      `export default async () => { await sys.mem.put('k', 1); for (;;) await sys.mem.get('k'); }`,
    ],
    // The kernel's work for these runs after an await inside the call (a write queue, the snapshot's encoding).
    [
      'awaited sys.mem.put calls of 200 KB values',
      `export default async () => { const v = 'v'.repeat(200 * 1000); for (let i = 0; ; i++) await sys.mem.put('k' + (i % 8), v); }`,
    ],
    [
      'awaited sys.snapshot calls over a 2 MB namespace',
      `export default async () => {
        for (let i = 0; i < 8; i++) await sys.mem.put('k' + i, String(i).repeat(250 * 1000));
        for (let i = 0; ; i++) await sys.snapshot({ i });
      }`,
    ],
  ])(
    '%s are charged to cpu_ms: the flood ends at its CPU limit, not its wall limit',
    async (_name, code) => {
      kernel = testKernel({
        limits: { cpu_ms: CPU_MS, wall_ms: WALL_MS, syscalls: 1e9 },
        audit: { file: auditFile(), fsync: 'never' },
        // Room for every snapshot the CPU limit allows on a fast machine (64 of 2 MB measured on an idle one).
        maxHeldBytes: 2 * 1024 ** 3,
        maxStoredBytesPerTenant: 1024 ** 3,
      });
      const { result, hostCpuMs, wallMs } = await measured(kernel, code);
      expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: cpu_ms' } });
      // The host's busy time (every thread of this process) is bounded by the limit, and most of it was charged.
      // Before the fix: 7.2 s of host CPU for the sync flood (18x the limit, 0.14 charged), 1.9 s for the awaited
      // one (4.8x, 0.21 charged). After: about 2x, half charged (the rest is isolated-vm's crossing and GC).
      // Together the two bounds below say at least a quarter of it was charged; the host's figure counts every
      // thread (GC, the test runner), so a tighter ratio fails on a loaded machine for reasons not the kernel's.
      // The thread hand-offs of the crossings themselves are not the kernel's work and are not charged (SECURITY.md,
      // "Accounting gaps"): their cost, measured bare for as many calls in this run, is left out.
      const crossings = await bareCrossingCpuMs(result.usage.syscalls);
      expect(hostCpuMs - crossings).toBeLessThan(CPU_MS * 4);
      expect(result.usage.cpu_ms).toBeGreaterThanOrEqual(CPU_MS);
      expect(result.usage.kernel_ms ?? 0).toBeGreaterThan(0);
      expect(wallMs).toBeLessThan(WALL_MS / 2);
    },
    60_000,
  );

  it('the syscall budget ends a flood with E_QUOTA and bounds the audit records it causes', async () => {
    const file = auditFile();
    kernel = testKernel({ limits: { syscalls: 2000 }, audit: { file, fsync: 'never' } });
    const result = await kernel.run({ code: `export default async () => { for (;;) sys.log('x'); }` });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: syscalls' } });
    expect(result.usage.syscalls).toBeLessThanOrEqual(2001);
    await kernel.close();
    kernel = undefined;
    const records = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"syscall":"log"'));
    expect(records.length).toBeLessThanOrEqual(2 * 2001);
  });

  it('the budget comes from the policy, is carved for children, and counts refused attempts', async () => {
    kernel = testKernel({ policy: { capabilities: [], budget: { syscalls: 50 } } });
    kernel.programs.add(
      'flood',
      `export default async () => { for (;;) { try { await sys.tool('nope'); } catch {} } }`,
    );
    const result = await kernel.run({
      code: `export default async () => {
        try { await sys.join(await sys.spawn({ program: 'flood', budget: { syscalls: 20 } })); } catch (e) { return e.message; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: expect.stringContaining('quota exceeded: syscalls') });
  });

  it('the default budget is finite', () => {
    expect(Number.isFinite(DEFAULT_LIMITS.syscalls)).toBe(true);
  });
});
