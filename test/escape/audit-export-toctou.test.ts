// Attack (red-team pass 132): get forged records exported as verified. `isokernel audit export` verified the log at its
// path, then opened the path again to export it; a file renamed over the log between the two opens (a forged record,
// no chain, no checkpoint) was exported with exit 0 under a pinned key. Export now reads the log once, verifies the
// lines it read and exports exactly those. The race is made deterministic here: the forgery is renamed over the log
// right after the log's first open returns.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { auditExport } from '../../cli/audit.js';
import { sealRecord } from '../../runtime/audit/record.js';
import { KERNEL_KEY_HEX, writeLog } from '../helpers/audit-log.js';

// Called after every openSync with the path opened; the test arms it.
const hooks = vi.hoisted(() => ({ afterOpen: undefined as ((path: unknown) => void) | undefined }));

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const openSync = ((...args: Parameters<typeof actual.openSync>) => {
    const fd = actual.openSync(...args);
    hooks.afterOpen?.(args[0]);
    return fd;
  }) as typeof actual.openSync;
  return { ...actual, default: { ...actual, openSync }, openSync };
});

let dir = '';
afterEach(() => {
  hooks.afterOpen = undefined;
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  dir = '';
});

it('a file renamed over the log once export has opened it is not what export prints', () => {
  dir = fs.mkdtempSync(join(tmpdir(), 'isokernel-export-toctou-'));
  const { path } = writeLog(dir, 20, { checkpointEvery: 8 });
  const base = {
    v: 2 as const,
    time: 0,
    namespace: 'n',
    agent: 'a',
    parent: null,
    syscall: 'tool',
    action: 'fs.write',
    resource: '/etc/shadow',
    args_sha256: 'a'.repeat(64),
    label: [],
    prev: '0'.repeat(64),
  };
  const forged = sealRecord({
    ...base,
    seq: 1,
    phase: 'outcome',
    ref: 0,
    status: 'ok',
    code: null,
    duration_ms: 1,
    usage: {},
  });
  const forgedPath = join(dir, 'forged.jsonl');
  fs.writeFileSync(forgedPath, `${forged.line}\n`);
  let opens = 0;
  hooks.afterOpen = (opened) => {
    if (opened !== path) return;
    opens += 1;
    if (opens === 1) fs.renameSync(forgedPath, path);
  };
  const out: string[] = [];
  const err: string[] = [];
  const code = auditExport(
    path,
    { format: 'agent-kernel', trustedKeys: [KERNEL_KEY_HEX] },
    { out: (line) => out.push(line), err: (line) => err.push(line) },
  );
  expect(fs.existsSync(forgedPath)).toBe(false);
  // Before: exit 0 with the forged /etc/shadow line printed.
  expect(out.filter((line) => line.includes('/etc/shadow'))).toEqual([]);
  expect({ code, err }).toEqual({ code: 0, err: [] });
  expect(out.length).toBeGreaterThan(0);
  expect(opens).toBe(1);
});
