import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { policyCheck } from '../../cli/policy-check.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/policy.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'isokernel-policy-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(file: string) {
  const out: string[] = [];
  const err: string[] = [];
  const code = policyCheck(file, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out, err };
}

describe('isokernel policy check', () => {
  it('prints the rules as a table and exits 0', () => {
    const { code, out, err } = run(EXAMPLE);
    expect(code).toBe(0);
    expect(err).toEqual([]);
    expect(out[0]).toMatch(/^action\s+resource\s+constraint\s+max_uses\s+expires_in$/);
    expect(out.find((line) => line.startsWith('net.http'))).toMatch(
      /^net\.http\s+https:\/\/api\.example\.com\/\*\*\s+method=GET\s+-\s+10m$/,
    );
    expect(out.find((line) => line.startsWith('fs.write'))).toMatch(/\s100\s+-$/);
    expect(out.at(-1)).toBe(`5 capabilities in ${EXAMPLE}`);
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
