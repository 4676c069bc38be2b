import { describe, expect, it } from 'vitest';
import { buildCodeModule, type CodeForm } from '../../../agents/code-mode/code-module.js';
import { checkModuleSource } from '../../../isolates/code-check.js';
import { testKernel } from '../../helpers/kernel.js';

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
    it(`classifies ${JSON.stringify(code.slice(0, 40))} as ${form}, as a valid module`, () => {
      const built = buildCodeModule(code, []);
      expect(built.form).toBe(form);
      expect(checkModuleSource(built.module)).toEqual({ ok: true });
    });
  }

  it('never throws, whatever the code; a module that does not compile is refused by the kernel (E_BAD_CODE)', async () => {
    const kernel = testKernel();
    for (const code of ['', '}{', '`', 'export default', '/*', 'return (']) {
      const { module } = buildCodeModule(code, []);
      const result = await kernel.run({ code: module });
      if (!result.ok) expect(result.error.code).toBe('E_BAD_CODE');
    }
    await kernel.close();
  });

  it('runs and reports { ok, result, logs } or { ok: false, error, logs }, mapping typed-API arguments', async () => {
    const kernel = testKernel();
    const tools = [{ name: 'say', tool: 'echo', rename: { words: 'text' }, fixed: { loud: true } }];
    const run = async (code: string) => {
      const result = await kernel.run({ code: buildCodeModule(code, tools).module });
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
