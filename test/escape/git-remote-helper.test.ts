/**
 * Attack (review 126): run a `git-*` program the subcommand allowlist keeps out, through a transport name. git runs
 * `git-remote-<name>` from its helper directory or PATH for any address spelled `<name>::<address>`, and only the
 * `file` and `ext` transports were pinned off: `git ls-remote vendor::x` and `git clone vendor::z d` ran a
 * `git-remote-vendor` on the PATH the host passed through (a vendor's or a distribution's helper, such as
 * `git-remote-gcrypt`, would run the same way). Transports are now allowed by name only (https, http, ssh, git).
 * The helper here is the host's, as a packaged one would be; it would leave a file named `pwned`.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createProcTool, type Kernel, loadPolicy } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

let base: string;
let kernel: Kernel | undefined;
const savedPath = process.env['PATH'];

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-git-remote-')));
  const bin = join(base, 'bin');
  mkdirSync(bin);
  mkdirSync(join(base, 'root'));
  const helper = join(bin, 'git-remote-vendor');
  writeFileSync(helper, `#!/bin/sh\ntouch ${join(base, 'pwned')}\nexit 1\n`);
  chmodSync(helper, 0o755);
  process.env['PATH'] = `${bin}:/usr/bin:/bin`;
});

afterEach(async () => {
  process.env['PATH'] = savedPath;
  await kernel?.close();
  kernel = undefined;
  await rm(base, { recursive: true, force: true });
});

it('a <name>::<address> transport does not run git-remote-<name> (review 126)', async () => {
  const root = join(base, 'root');
  const policy = loadPolicy({ capabilities: [{ action: 'proc.exec', resource: 'git' }] });
  kernel = testKernel({
    tools: [
      createProcTool({
        programs: {},
        roots: [root],
        policy,
        searchPath: '/usr/bin:/bin',
        env: ['PATH'],
        sandbox: 'off',
      }),
    ],
    policy,
  });
  const result = await kernel.run({
    code: `export default async () => {
      const out = [];
      for (const args of [['ls-remote', 'vendor::x'], ['clone', 'vendor::z', 'd']]) {
        const r = await sys.tool('proc.exec', { program: 'git', args });
        out.push([r.exit_code, r.stderr]);
      }
      return out;
    }`,
  });
  if (!result.ok) throw new Error(`agent failed: ${result.error.code} ${result.error.message}`);
  for (const [code, stderr] of result.value as [number, string][]) {
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/transport 'vendor' not allowed/);
  }
  expect(existsSync(join(base, 'pwned'))).toBe(false);
}, 60_000);
