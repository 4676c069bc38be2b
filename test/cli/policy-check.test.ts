import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { policyCheck } from '../../cli/policy-check.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/policy.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'isokernel-policy-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(file: string, searchPath?: string) {
  const out: string[] = [];
  const err: string[] = [];
  const code = policyCheck(file, { out: (s) => out.push(s), err: (s) => err.push(s) }, searchPath);
  return { code, out, err };
}

const PERMISSIVE = fileURLToPath(new URL('../fixtures/agent_os_kernel/permissive_policy.yaml', import.meta.url));

describe('isokernel policy check', () => {
  it('prints the rules as a table and exits 0', () => {
    const { code, out, err } = run(EXAMPLE, '/usr/bin:/bin');
    expect(code).toBe(0);
    expect(err).toEqual([]);
    expect(out[0]).toMatch(/^action\s+resource\s+constraint\s+max_uses\s+expires_in$/);
    expect(out.find((line) => line.startsWith('net.http'))).toMatch(
      /^net\.http\s+https:\/\/api\.example\.com\/\*\*\s+method=GET\s+-\s+10m$/,
    );
    expect(out.find((line) => line.startsWith('fs.write'))).toMatch(/\s100\s+-$/);
    expect(out).toContain(`5 capabilities in ${EXAMPLE}`);
    // It grants proc.exec on git and configures no program: git is found on the PATH, and the table says so.
    expect(out.find((line) => line.startsWith('git '))).toMatch(/^git\s+\/usr\/bin\/git\s+PATH$/);
  });

  it("agent_os_kernel's permissive policy loads unchanged; its programs resolve on the PATH, a missing one warns", () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const name of ['git', 'python', 'pip']) {
      writeFileSync(join(bin, name), '#!/bin/sh\n');
      chmodSync(join(bin, name), 0o755);
    }
    const { code, out, err } = run(PERMISSIVE, bin);
    expect(code).toBe(0);
    expect(out.find((line) => line.startsWith('net.http'))).toMatch(/^net\.http\s+https:\/\/\*\*\s/);
    expect(out).toContain(`9 capabilities in ${PERMISSIVE}`);
    const programs = out.slice(out.findIndex((line) => line.startsWith('program')));
    expect(programs[0]).toMatch(/^program\s+runs\s+from$/);
    for (const name of ['git', 'python', 'pip']) {
      expect(programs.find((line) => line.startsWith(`${name} `))).toMatch(
        new RegExp(`^${name}\\s+${join(bin, name).replaceAll('/', '\\/')}\\s+PATH$`),
      );
    }
    expect(programs.find((line) => line.startsWith('uv '))).toMatch(/^uv\s+-\s+not found \(E_NO_TOOL\)$/);
    // Where they would run: confined here (the sandbox's own suites prove it), or why not.
    expect(programs.at(-1)).toMatch(
      /^programs run (confined: Landlock ABI \d+|unconfined: .*Landlock.*) \(tools\.proc\.sandbox: auto\)$/,
    );
    expect(err).toEqual([expect.stringMatching(/^warning: proc\.exec "uv" is granted by the policy .*E_NO_TOOL/)]);
  });

  it('names a configured program by its source, and warns when its path is not an executable', () => {
    const file = join(dir, 'configured.yaml');
    writeFileSync(
      file,
      'capabilities:\n  - action: proc.exec\n    resource: git\ntools:\n  proc:\n    programs:\n' +
        '      git: { path: /usr/bin/git }\n      gone: { path: /nonexistent/gone }\n',
    );
    const { code, out, err } = run(file, '');
    expect(code).toBe(0);
    expect(out.find((line) => line.startsWith('git '))).toMatch(/^git\s+\/usr\/bin\/git\s+tools\.proc\.programs$/);
    expect(err).toEqual([
      'warning: tools.proc.programs.gone.path is not an executable file: isokernel run will refuse to start',
    ]);
  });

  it('prints file:line:col errors and exits 1', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'capabilities:\n  - action: fs.read\n    resource: /w/../x\n    colour: red\n');
    const { code, out, err } = run(file);
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(2);
    expect(err[0]).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:15: capabilities\\[0\\]\\.resource: `),
    );
    expect(err[1]).toContain(':4:5: capabilities[0].colour:');
    expect(run(join(dir, 'missing.yaml')).code).toBe(1);
  });
});
