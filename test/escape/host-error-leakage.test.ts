// Attack: read host detail out of errors. isolated-vm passes host error messages and stacks to the guest
// unchanged, and the test tools throw and reject with the host's working directory and a planted secret.
// Walk every error path the agent can reach (malformed, oversize and too-deep arguments, unknown tools,
// throwing and rejecting tools, refused imports, its own syntax errors and throws, kills) and look for any
// host string in everything visible to the agent and in the run result.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel, RunResult } from '../../index.js';
import { HOST_SECRETS, ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const LIMITS = { cpu_ms: 2000, wall_ms: 4000, memory_mb: 64 };

  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({ isolation, limits: LIMITS });
  });
  afterAll(async () => {
    await kernel.close();
  });

  function expectNoSecrets(text: string): void {
    for (const secret of HOST_SECRETS) expect(text, `leaked ${secret}`).not.toContain(secret);
    // Host stack frames would name node internals, file URLs or the kernel's TypeScript sources.
    expect(text).not.toMatch(/\(node:|node:internal|file:\/\/|\.ts:\d|at process\./);
  }

  function expectClean(result: RunResult): void {
    expectNoSecrets(JSON.stringify(result));
  }

  // Everything an agent can read off an error.
  const COLLECT = `
const seen = [];
const collect = (label, e) => {
  const parts = [label];
  for (const read of [
    () => e.code, () => e.message, () => e.stack, () => String(e), () => JSON.stringify(e), () => e.name,
    () => JSON.stringify(Object.getOwnPropertyDescriptors(e)), () => Object.prototype.toString.call(e),
    () => e.constructor.name, () => JSON.stringify(e.cause),
  ]) {
    try { parts.push(String(read())); } catch (err) { parts.push('threw:' + String(err)); }
  }
  seen.push(parts);
};
const attempt = async (label, make) => {
  try { const v = await make(); seen.push([label, 'value', JSON.stringify(v)]); } catch (e) { collect(label, e); }
};
`;

  describe('errors visible to the agent carry no host detail', () => {
    it('every syscall failure path', async () => {
      const result = await kernel.run({
        code: `${COLLECT}
export default async function main() {
  await attempt('name not a string', () => sys.tool(123, {}));
  await attempt('name too long', () => sys.tool('x'.repeat(100), {}));
  await attempt('options not an object', () => sys.tool('echo', 1, 'bad'));
  await attempt('unknown option', () => sys.tool('echo', 1, { evil: true }));
  await attempt('handle option', () => sys.tool('echo', 1, { handle: true }).then((h) => (typeof sys.read === 'function' ? sys.read(h) : h)));
  await attempt('too many log values', () => sys.log(...new Array(65).fill('v')));
  await attempt('oversize payload', () => sys.tool('echo', 'x'.repeat(1024 * 1024 + 10)));
  await attempt('oversize multibyte payload', () => sys.tool('echo', '\\u20ac'.repeat(400000)));
  await attempt('too deep', () => { let v = 1; for (let i = 0; i < 200; i++) v = { v }; return sys.tool('echo', v); });
  await attempt('__proto__ key', () => sys.tool('echo', JSON.parse('{"__proto__": {"polluted": true}}')));
  await attempt('unknown tool', () => sys.tool('no-such-tool', {}));
  await attempt('tool throws', () => sys.tool('fail', { path: '/etc/passwd' }));
  await attempt('tool rejects', () => sys.tool('reject', {}));
  await attempt('tool schema', () => sys.tool('sleep', { ms: -1, extra: '/work/main' }));
  await attempt('bigint', () => sys.tool('echo', 1n));
  await attempt('cyclic', () => { const o = {}; o.o = o; return sys.tool('echo', o); });
  await attempt('dynamic import via eval', () => (0, eval)('import("node:fs")'));
  await attempt('dynamic import via Function', () => new Function('return import("/work/main/package.json")')());
  await attempt('own error', () => { throw new Error('mine'); });
  if (typeof sys.caps === 'function') await attempt('caps', () => sys.caps());
  return seen;
}`,
      });
      expect(result.ok, JSON.stringify(result)).toBe(true);
      expectClean(result);
      if (!result.ok) return;
      const seen = result.value as string[][];
      expect(seen.length).toBeGreaterThanOrEqual(19);
      const codes = Object.fromEntries(seen.map((parts) => [parts[0], parts[1]]));
      expect(codes).toMatchObject({
        'name not a string': 'E_BAD_ARG',
        'name too long': 'E_BAD_ARG',
        'options not an object': 'E_BAD_ARG',
        'unknown option': 'E_BAD_ARG',
        'too many log values': 'E_BAD_ARG',
        'oversize payload': 'E_BAD_ARG',
        'oversize multibyte payload': 'E_BAD_ARG',
        'too deep': 'E_BAD_ARG',
        '__proto__ key': 'E_BAD_ARG',
        'unknown tool': 'E_NO_TOOL',
        'tool throws': 'E_TOOL_FAILED',
        'tool rejects': 'E_TOOL_FAILED',
        'tool schema': 'E_BAD_ARG',
        bigint: 'E_BAD_ARG',
        cyclic: 'E_BAD_ARG',
      });
    });

    it("the agent's own stack traces name only the agent's file and the prelude", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'isokernel-SECRET-TOKEN-123-'));
      const nested = join(dir, 'node_modules', 'isolated-vm');
      mkdirSync(nested, { recursive: true });
      const file = join(nested, 'agent.js');
      writeFileSync(
        file,
        `export default async function main() {
  const stacks = [new Error('here').stack];
  try { await sys.tool('fail', {}); } catch (e) { stacks.push(e.stack); }
  try { null.x; } catch (e) { stacks.push(e.stack); }
  return stacks;
}`,
      );
      try {
        const result = await kernel.run({ file });
        expect(result.ok, JSON.stringify(result)).toBe(true);
        expectClean(result);
        expectNoSecrets(JSON.stringify(result).replaceAll(tmpdir(), ''));
        expect(JSON.stringify(result)).not.toContain(dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('run results carry no host detail', () => {
    const CASES: Record<string, [string, string]> = {
      'syntax error': ['export default async function main( {', 'E_BAD_CODE'],
      'import declaration': ["import fs from 'node:fs';\nexport default async function main() {}", 'E_BAD_CODE'],
      'import of a host path': [
        "import x from '/work/main/index.ts';\nexport default async function main() {}",
        'E_BAD_CODE',
      ],
      're-export': ["export * from '/work/main/index.ts';\nexport default async function main() {}", 'E_BAD_CODE'],
      'dynamic import': ["export default async function main() { return import('node:fs'); }", 'E_BAD_CODE'],
      'no main': ['export const x = 1;', 'E_BAD_CODE'],
      'top-level throw': ["throw new Error('top');\nexport default async function main() {}", 'E_AGENT_FAILED'],
      'top-level throw of a plain object': [
        'throw { secret: 1 };\nexport default async function main() {}',
        'E_AGENT_FAILED',
      ],
      'top-level throw of a string': ["throw 'text';\nexport default async function main() {}", 'E_AGENT_FAILED'],
      'top-level ReferenceError': ['undefinedThing.x;\nexport default async function main() {}', 'E_AGENT_FAILED'],
      'main throws': ["export default async function main() { throw new TypeError('bad'); }", 'E_AGENT_FAILED'],
      'main returns a BigInt': ['export default async function main() { return 1n; }', 'E_AGENT_FAILED'],
      'cpu limit': ['export default async function main() { for (;;); }', 'E_QUOTA'],
      'wall limit': ["export default async function main() { await sys.tool('sleep', { ms: 10000 }); }", 'E_QUOTA'],
      'stack overflow at top level': [
        'const f = () => f();\nf();\nexport default async function main() {}',
        'E_AGENT_FAILED',
      ],
    };
    for (const [name, [code, expected]] of Object.entries(CASES)) {
      it(`${name}: ${expected} with a clean message`, async () => {
        const result = await kernel.run({ code, limits: { cpu_ms: 300, wall_ms: 1000 } });
        expect(result.ok, JSON.stringify(result)).toBe(false);
        if (result.ok) return;
        expect(result.error.code).toBe(expected);
        expectClean(result);
      });
    }

    it('a host kill: E_KILLED with a clean message', async () => {
      const handle = kernel.spawn({
        code: "export default async function main() { await sys.tool('sleep', { ms: 10000 }); }",
      });
      setTimeout(() => handle.kill(), 50);
      const result = await handle.result;
      expect(result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
      expectClean(result);
    });
  });
});
