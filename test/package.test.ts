import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// The built package, imported by its own name from a real Node process, as a user would.
function importInNode(specifier: string, expression: string): string {
  const code = `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify(${expression})))`;
  const child = spawnSync(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(child.stderr).toBe('');
  return child.stdout.trim();
}

describe('package exports', () => {
  it('isokernel exposes the kernel, tools, policy, labels and audit verifiers', () => {
    const names = JSON.parse(importInNode('isokernel', 'Object.keys(m).sort()')) as string[];
    for (const name of [
      'Kernel',
      'defineTool',
      'KernelError',
      'loadPolicy',
      'makeLabel',
      'verifyAuditFile',
      'verifyInclusion',
      // What an independent monitor needs (test/runtime/audit/independent-monitor.test.ts).
      'parseRecordLine',
      'recordLeafHash',
      'hashLeaf',
      'MerkleTree',
      'parseCheckpointLine',
      'verifyCheckpointSignature',
      'verifyCheckpointConsistency',
      'verifyConsistency',
    ]) {
      expect(names).toContain(name);
    }
  });

  it('isokernel/token verifies without the kernel', () => {
    expect(JSON.parse(importInNode('isokernel/token', 'typeof m.verifyChain'))).toBe('function');
  });
});
