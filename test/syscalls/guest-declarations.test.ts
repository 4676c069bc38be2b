import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { GUEST_PARTS } from '../../isolates/guest-libraries.js';
import { declaredGlobals, guestDeclarations } from '../../syscalls/guest-declarations.js';
import { GUEST_GLOBALS } from '../../syscalls/guest-globals.js';
import { SYSCALLS } from '../../syscalls/table.js';
import { testKernel } from '../helpers/kernel.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const visible = [...SYSCALLS.values()].filter(({ guest }) => guest.internal !== true).map(({ name }) => name);
const globalNames = GUEST_GLOBALS.map(({ name }) => name);

function readmeSection(title: string): string {
  const readme = read('README.md');
  const start = readme.indexOf(title);
  expect(start, title).toBeGreaterThan(0);
  return readme.slice(start, readme.indexOf('\n## ', start + 5));
}

describe('the guest API has one source: the syscall table and the guest globals table', () => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('guest/sys.d.ts is what the tables generate (run `npm run generate` after changing a syscall or a global)', () => {
    expect(read('guest/sys.d.ts')).toBe(guestDeclarations());
  });

  it('declares every syscall on sys but the internal ones, and nothing else', () => {
    const text = guestDeclarations();
    const sysBlock = text.slice(text.indexOf('export interface Sys {'), text.indexOf('declare global'));
    const declared = [...sysBlock.matchAll(/^ {2,4}(?:readonly )?([a-z]+)\(/gm)].map((m) => m[1]);
    expect(declared.sort()).toEqual(visible.map((name) => name.split('.').at(-1)).sort());
    for (const { name, guest } of SYSCALLS.values()) {
      if (guest.internal === true) expect(sysBlock).not.toMatch(new RegExp(`\\b${name}\\(`));
    }
  });

  it('declares every web global of the table, and nothing else; every global comes from a known part', () => {
    expect(declaredGlobals().sort()).toEqual([...globalNames].sort());
    for (const { part } of GUEST_GLOBALS) expect(Object.hasOwn(GUEST_PARTS, part), part).toBe(true);
  });

  it('the prelude builds exactly the tables: sys lists every visible syscall, frozen; the web globals exist', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      code: `export default () => {
        const names = [];
        for (const key of Object.keys(sys)) {
          if (typeof sys[key] === 'function') names.push(key);
          else for (const inner of Object.keys(sys[key])) names.push(key + '.' + inner);
        }
        const globals = ${JSON.stringify(globalNames)}.filter((name) => typeof globalThis[name] !== 'undefined');
        return { names, globals, frozen: Object.isFrozen(sys) && Object.isFrozen(sys.mem) };
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: { frozen: true } });
    const value = (result as { value: { names: string[]; globals: string[] } }).value;
    expect(value.names.sort()).toEqual([...visible].sort());
    expect(value.globals.sort()).toEqual([...globalNames].sort());
  });

  it("README's guest API table has one row per visible syscall, and its web globals table one row per global", () => {
    const rows = [...readmeSection('## The guest API').matchAll(/^\| `sys\.([a-z.]+)\(/gm)].map((m) => m[1]);
    expect(new Set(rows)).toEqual(new Set(visible));
    const globals = [...readmeSection('## Web globals').matchAll(/^\| `([A-Za-z]+)`/gm)].map((m) => m[1]);
    expect(globals.sort()).toEqual([...globalNames].sort());
  });

  it('agent code written the way models write it type-checks against guest/sys.d.ts alone (no DOM lib)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-dts-'));
    try {
      writeFileSync(join(dir, 'sys.d.ts'), guestDeclarations());
      writeFileSync(
        join(dir, 'agent.ts'),
        `import './sys.js';
export default async function main(input: { url: string }) {
  console.log('start', input);
  await new Promise((resolve) => setTimeout(resolve, 10));
  const url = new URL(input.url);
  url.searchParams.set('q', 'x');
  const res = await fetch(url, { method: 'POST', headers: { a: 'b' }, body: '{}', signal: AbortSignal.timeout(1000) });
  const data: unknown = await res.json();
  const bytes = new TextEncoder().encode(btoa(atob('eA==')));
  const copy = structuredClone(new Map([[1, 2]]));
  const id: string = crypto.randomUUID();
  await sys.log(id, copy.size, data, performance.now(), res.headers.get('x'));
  return new TextDecoder().decode(bytes);
}
// @ts-expect-error internal syscalls are not on sys
sys.wake(1);
`,
      );
      const program = ts.createProgram([join(dir, 'agent.ts'), join(dir, 'sys.d.ts')], {
        strict: true,
        noEmit: true,
        lib: ['lib.es2022.d.ts'],
        types: [],
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
      });
      const diagnostics = ts
        .getPreEmitDiagnostics(program)
        .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(diagnostics).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
