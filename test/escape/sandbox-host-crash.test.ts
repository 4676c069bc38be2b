// Attack: take a sandbox host down under other tenants' feet, from inside (an agent aborting V8 in its host)
// or from outside (SIGKILL by pid, as the OOM killer or an operator would). The process tier must end exactly
// the agents of that host with E_CRASHED, audited, while every other run completes correctly, the audit log
// still verifies, and the supervisor replaces the host.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Kernel, verifyAuditFile } from '../../index.js';
import type { ProcessLauncher } from '../../isolates/process-launcher.js';
import { readAuditRecords } from '../helpers/audit-file.js';
import { HEALTHY_AGENT } from '../helpers/containment.js';
import { processTestKernel, waitFor } from '../helpers/kernel.js';
import { isAlive } from '../helpers/processes.js';

let kernel: Kernel | undefined;
let dir: string | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function auditedKernel(): { kernel: Kernel; launcher: ProcessLauncher; file: string } {
  dir = mkdtempSync(join(tmpdir(), 'isokernel-crash-'));
  const file = join(dir, 'audit.jsonl');
  const made = processTestKernel({
    audit: { file },
    limits: { cpu_ms: 20_000, wall_ms: 30_000, memory_mb: 64 },
    policy: {
      capabilities: [
        { action: 'echo', resource: 'echo' },
        { action: 'sleep', resource: 'sleep' },
      ],
    },
  });
  kernel = made.kernel;
  return { ...made, file };
}

function expectVerifies(k: Kernel, file: string): void {
  const key = Buffer.from(k.authority.rootPublicKey, 'base64url').toString('hex');
  expect(verifyAuditFile(file, { trustedKeys: [key] })).toMatchObject({ ok: true });
}

describe('a sandbox host that dies', () => {
  it('four agents at once: one aborts its host (H5), three do real work and complete correctly', async () => {
    const { kernel: k, file } = auditedKernel();
    k.programs.add('doubler', 'export default async (n) => (await sys.tool("echo", n)) * 2');
    const hole = k.spawn({
      code: 'export default async function main() { return "x".repeat(2 ** 28).split("").length; }',
      limits: { memory_mb: 1024 },
    });
    const tools = k.spawn({
      code: `export default async function main() {
        let sum = 0;
        for (let i = 1; i <= 50; i++) sum += await sys.tool('echo', i);
        return sum;
      }`,
    });
    const spawner = k.spawn({
      code: `export default async function main() {
        const ids = [];
        for (let i = 1; i <= 3; i++) ids.push(await sys.spawn({ program: 'doubler', input: i, caps: [{ action: 'echo', resource: 'echo' }] }));
        const out = [];
        for (const id of ids) out.push(await sys.join(id));
        return out;
      }`,
    });
    const memory = k.spawn({
      code: `export default async function main() {
        for (let i = 0; i < 20; i++) await sys.mem.put('k' + i, { i, text: 'v'.repeat(100) });
        const keys = await sys.mem.list('k');
        let sum = 0;
        for (const key of keys) sum += (await sys.mem.get(key)).i;
        return { keys: keys.length, sum };
      }`,
    });
    const [holeResult, toolsResult, spawnerResult, memoryResult] = await Promise.all(
      [hole, tools, spawner, memory].map((handle) => handle.result),
    );
    expect(holeResult).toMatchObject({ ok: false, error: { code: 'E_CRASHED', message: /SIGTRAP/ } });
    expect(toolsResult).toMatchObject({ ok: true, value: 1275 });
    expect(spawnerResult, JSON.stringify(spawnerResult)).toMatchObject({ ok: true, value: [2, 4, 6] });
    expect(memoryResult).toMatchObject({ ok: true, value: { keys: 20, sum: 190 } });
    await k.close();
    kernel = undefined;
    expectVerifies(k, file);
    const crashed = readAuditRecords(file).filter((record) => record.agent === hole.id && record.code === 'E_CRASHED');
    expect(crashed.map((record) => record.action)).toContain('agent.crashed');
  }, 60_000);

  it('SIGKILL of a host from outside mid-run: its agent ends E_CRASHED, audited; the other run is unaffected; the host is replaced', async () => {
    const { kernel: k, launcher, file } = auditedKernel();
    const victim = k.spawn({
      code: 'export default async function main() { for (;;) await sys.tool("sleep", { ms: 20 }); }',
    });
    const other = k.spawn({
      code: `export default async function main() {
        let n = 0;
        for (let i = 0; i < 30; i++) { await sys.tool('sleep', { ms: 20 }); n += await sys.tool('echo', 1); }
        return n;
      }`,
    });
    await waitFor(
      () => k.agents().find((agent) => agent.id === victim.id)?.usage.syscalls !== undefined,
      'the victim has started',
      20_000,
    );
    await waitFor(
      () => (k.agents().find((agent) => agent.id === victim.id)?.usage.syscalls ?? 0) > 2,
      'the victim is calling',
      20_000,
    );
    const pid = launcher.hostPid(victim.id);
    expect(pid).toBeDefined();
    expect(launcher.hostPid(other.id)).not.toBe(pid);
    process.kill(pid as number, 'SIGKILL');
    expect(await victim.result).toMatchObject({ ok: false, error: { code: 'E_CRASHED', message: /SIGKILL/ } });
    expect(await other.result).toMatchObject({ ok: true, value: 30 });
    await waitFor(() => !isAlive(pid as number));
    expect(launcher.hostPids()).not.toContain(pid);
    expect(launcher.hostPids().length).toBeGreaterThan(0);
    expect(await k.run({ code: HEALTHY_AGENT })).toMatchObject({ ok: true, value: 'alive' });
    await k.close();
    kernel = undefined;
    expectVerifies(k, file);
    const records = readAuditRecords(file).filter((record) => record.agent === victim.id);
    const crashed = records.findIndex((record) => record.action === 'agent.crashed' && record.phase === 'outcome');
    expect(records[crashed]).toMatchObject({ action: 'agent.crashed', code: 'E_CRASHED' });
    // After it, only the outcomes of the calls the victim had in flight: `killed` where the tool failed once its
    // caller was gone, `ok` where it returned (the test's sleep returns early when its caller ends).
    for (const record of records.slice(crashed + 1)) {
      expect(record.phase).toBe('outcome');
      expect([record.status, record.code]).toEqual(record.status === 'ok' ? ['ok', null] : ['killed', 'E_KILLED']);
    }
  }, 60_000);
});
