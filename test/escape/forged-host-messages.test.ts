// Attack: a compromised sandbox host (a V8 escape in the process tier) sends the kernel frames the protocol
// does not allow: a syscall in the name of an agent it does not host, malformed and oversized frames, a
// malformed call id, an outcome code a host may not report, an unknown frame type. The kernel treats the
// host as hostile: each is refused before it reaches a tool, recorded as a `sandbox.violation` (denied), and
// answered by killing the host, whose agent ends E_CRASHED; the kernel serves the next run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import type { AuditRecord } from '../../runtime/audit/record.js';
import { forgingHostKernel, violationRecords } from '../helpers/forging-host.js';
import { recordingTool, waitFor } from '../helpers/kernel.js';
import { isAlive } from '../helpers/processes.js';

const { tool: record, calls, capability } = recordingTool('recorded');
const dir = mkdtempSync(join(tmpdir(), 'isokernel-forged-'));
const auditFile = join(dir, 'audit.jsonl');
let kernel: Kernel;
beforeAll(() => {
  ({ kernel } = forgingHostKernel({
    tools: [record],
    policy: { capabilities: [capability] },
    limits: { wall_ms: 20_000 },
    audit: { file: auditFile, fsync: 'always' },
  }));
});
afterAll(async () => {
  await kernel.close();
  rmSync(dir, { recursive: true, force: true });
});

function violations(): AuditRecord[] {
  return violationRecords(auditFile);
}

const FORGERIES = [
  'another agent',
  'malformed frame',
  'oversized frame',
  'oversized string',
  'malformed call id',
  'forged outcome code',
  'unknown frame type',
];

describe('forged messages from a sandbox host', () => {
  for (const forgery of FORGERIES) {
    it(`${forgery}: refused, audited as a violation, the host killed, its agent E_CRASHED`, async () => {
      const before = violations().length;
      calls.length = 0;
      const handle = kernel.spawn({ code: forgery });
      const result = await handle.result;
      expect(result).toMatchObject({ ok: false, error: { code: 'E_CRASHED', message: /broke the protocol/ } });
      expect(calls).toEqual([]);
      const added = violations().slice(before);
      expect(added.length).toBe(1);
      // The host the agent ran on (a start waiting for a cooling host may be placed on another one, so the pid
      // is read from the record, not from where the agent was first placed): that host is killed.
      expect(added[0]).toMatchObject({ status: 'denied', agent: expect.stringMatching(/^sandbox-host:\d+$/) });
      const pid = Number(String(added[0]?.agent).slice('sandbox-host:'.length));
      await waitFor(() => !isAlive(pid), 'the forging host is dead');
      // The kernel serves on: an honest host's agent gets its tool call answered.
      const honest = await kernel.run({ code: 'honest' });
      expect(honest).toMatchObject({ ok: true, value: 'recorded' });
      expect(calls).toEqual([{ honest: true }]);
    }, 60_000);
  }
});
