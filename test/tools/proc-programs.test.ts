import { chmod, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../index.js';
import { findOnPath, grantedProgramNames, programWarning, resolvePrograms } from '../../tools/proc-programs.js';

let base: string;
let binA: string;
let binB: string;
let root: string;

async function executable(path: string, mode = 0o755): Promise<void> {
  await writeFile(path, '#!/bin/sh\necho "$0"\n');
  await chmod(path, mode);
}

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-proc-programs-')));
  binA = join(base, 'a');
  binB = join(base, 'b');
  root = join(base, 'root');
  await mkdir(binA);
  await mkdir(binB);
  await mkdir(join(root, 'bin'), { recursive: true });
  await executable(join(binA, 'git'));
  await executable(join(binB, 'git'));
  await executable(join(binB, 'python'));
  await executable(join(binA, 'pip'), 0o644); // not executable: skipped
  await mkdir(join(binA, 'uv')); // a directory: skipped
  await executable(join(binB, 'pip'));
  await executable(join(root, 'bin', 'planted'));
  await symlink(join(binB, 'python'), join(binA, 'python3'));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('grantedProgramNames', () => {
  it("lists the literal names proc.exec rules grant (agent_os_kernel's resource: git), in order, once", () => {
    const policy = loadPolicy({
      capabilities: [
        { action: 'proc.exec', resource: 'git' },
        { action: 'fs.read', resource: '/workspace/**' },
        { action: 'proc.exec', resource: 'python' },
        { action: 'proc.*', resource: 'uv' },
        { action: '*', resource: 'pip' },
        { action: 'proc.exec', resource: 'git' },
        { action: 'proc.exec', resource: 'py*' },
        { action: 'proc.exec', resource: '/usr/bin/env' },
        { action: 'proc.spawn', resource: 'sh' },
        { action: 'proc.exec', resource: 'Git' },
      ],
    });
    expect(grantedProgramNames(policy)).toEqual(['git', 'python', 'uv', 'pip', 'Git']);
  });
});

describe('findOnPath', () => {
  it('takes the first executable regular file, in PATH order', () => {
    expect(findOnPath('git', `${binA}:${binB}`)).toBe(join(binA, 'git'));
    expect(findOnPath('git', `${binB}:${binA}`)).toBe(join(binB, 'git'));
    expect(findOnPath('pip', `${binA}:${binB}`)).toBe(join(binB, 'pip'));
    expect(findOnPath('uv', `${binA}:${binB}`)).toBeUndefined();
    expect(findOnPath('python3', binA)).toBe(join(binA, 'python3'));
  });

  it('skips empty, relative and non-normalized entries (the answer must not depend on the cwd)', () => {
    const cwd = process.cwd();
    try {
      process.chdir(binA);
      expect(findOnPath('git', `:.:a:${binA}/../a:${binA}/`)).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses names that are not program names', () => {
    expect(findOnPath('../a/git', base)).toBeUndefined();
    expect(findOnPath('Git', binA)).toBeUndefined();
    expect(findOnPath('', binA)).toBeUndefined();
  });
});

describe('resolvePrograms', () => {
  const policy = loadPolicy({
    capabilities: ['git', 'python', 'pip', 'uv', 'python3', 'planted', 'Git'].map((resource) => ({
      action: 'proc.exec',
      resource,
    })),
  });
  const roots = () => [{ given: root, real: root }];

  it('config first, then each granted name on the PATH; the config wins over the PATH', () => {
    const found = resolvePrograms(
      policy,
      { git: { path: '/usr/bin/git' } },
      `${binA}:${binB}:${join(root, 'bin')}`,
      roots(),
    );
    const byName = Object.fromEntries(found.map((entry) => [entry.name, entry]));
    expect(found.map((entry) => entry.name)).toEqual(['git', 'python', 'pip', 'uv', 'python3', 'planted', 'Git']);
    expect(byName['git']).toMatchObject({ origin: 'config', path: '/usr/bin/git', real: '/usr/bin/git' });
    expect(byName['python']).toMatchObject({ origin: 'path', path: join(binB, 'python'), real: join(binB, 'python') });
    expect(byName['python3']).toMatchObject({
      origin: 'path',
      path: join(binA, 'python3'),
      real: join(binB, 'python'),
    });
    expect(byName['pip']).toMatchObject({ origin: 'path', path: join(binB, 'pip') });
    expect(byName['uv']).toMatchObject({ origin: 'missing', path: undefined });
    expect(byName['planted']).toMatchObject({ origin: 'missing' });
    expect(byName['planted']!.problem).toMatch(/inside an fs root/);
    expect(byName['Git']).toMatchObject({ origin: 'missing' });
    expect(byName['Git']!.problem).toMatch(/not a program name/);
  });

  it('a missing program gets a warning naming it and the E_NO_TOOL it will cause', () => {
    const uv = resolvePrograms(policy, {}, binA).find((entry) => entry.name === 'uv')!;
    expect(programWarning(uv)).toBe(
      'proc.exec "uv" is granted by the policy but is not in tools.proc.programs and was not found on the PATH: ' +
        'calls will fail with E_NO_TOOL (configure it in tools.proc.programs)',
    );
  });

  it('without a policy only the configured programs are listed', () => {
    expect(resolvePrograms(undefined, { git: { path: '/usr/bin/git' } }, binA).map((entry) => entry.name)).toEqual([
      'git',
    ]);
  });
});
