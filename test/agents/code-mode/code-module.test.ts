import { describe, expect, it } from 'vitest';
import { buildCodeModule, type CodeForm } from '../../../agents/code-mode/code-module.js';
import { parsesAsExpression } from '../../../agents/code-mode/expression-check.js';
import { checkModuleSource } from '../../../isolates/code-check.js';
import { testKernel } from '../../helpers/kernel.js';

// The two expression checkers the module builder is given: V8's parser (the loop, in the guest) and acorn
// (the host). They must classify the same way.
const byV8 = (text: string): boolean => {
  try {
    new Function(`return (\n${text}\n);`);
    return true;
  } catch {
    return false;
  }
};
const byAcorn = parsesAsExpression;

const CASES: [string, CodeForm][] = [
  ['async () => { return 1; }', 'expression'],
  ['async () => 1;', 'expression'],
  ['async function run() { return 2; }', 'expression'],
  ['(async () => 3)', 'expression'],
  ['const x = 1;\nreturn x;', 'body'],
  ['await sys.tool("echo", {});\nreturn 1', 'body'],
  ['return 5', 'body'],
  ['export default async function main() { return 1; }', 'module'],
  ['const helper = () => 2;\nexport default async () => helper();', 'module'],
  ['```js\nasync () => 7\n```', 'expression'],
  ['Sure:\n```javascript\nreturn 8;\n```\nDone.', 'body'],
];

describe('buildCodeModule', () => {
  for (const [code, form] of CASES) {
    it(`classifies ${JSON.stringify(code.slice(0, 40))} as ${form}, the same with V8 and acorn, as a valid module`, () => {
      const v8 = buildCodeModule(code, [], byV8);
      const acorn = buildCodeModule(code, [], byAcorn);
      expect(v8.form).toBe(form);
      expect(acorn).toEqual(v8);
      expect(checkModuleSource(v8.module)).toEqual({ ok: true });
    });
  }

  it('never throws, whatever the code; a module that does not compile is refused by the kernel (E_BAD_CODE)', async () => {
    const kernel = testKernel();
    for (const code of ['', '}{', '`', 'export default', '/*', 'return (']) {
      const { module } = buildCodeModule(code, [], byAcorn);
      const result = await kernel.run({ code: module });
      if (!result.ok) expect(result.error.code).toBe('E_BAD_CODE');
    }
    await kernel.close();
  });

  it('runs and reports { ok, result, logs } or { ok: false, error, logs }, mapping typed-API arguments', async () => {
    const kernel = testKernel();
    const tools = [{ name: 'say', tool: 'echo', rename: { words: 'text' }, fixed: { loud: true } }];
    const run = async (code: string) => {
      const result = await kernel.run({ code: buildCodeModule(code, tools, byAcorn).module });
      return result.ok ? result.value : result.error;
    };
    expect(await run('async () => { console.log("a", { b: 1 }); return await tools.say({ words: "hi" }); }')).toEqual({
      ok: true,
      result: { text: 'hi', loud: true },
      logs: ['a {"b":1}'],
    });
    expect(await run('throw Object.assign(new Error("nope"), { code: "E_CUSTOM" })')).toEqual({
      ok: false,
      error: { code: 'E_CUSTOM', message: 'nope' },
      logs: [],
    });
    expect(await run('async () => { for (let i = 0; i < 500; i++) console.log(i); }')).toMatchObject({
      ok: true,
      result: null,
    });
    expect(
      ((await run('async () => { for (let i = 0; i < 500; i++) console.log(i); }')) as { logs: unknown[] }).logs,
    ).toHaveLength(200);
    await kernel.close();
  });
});
