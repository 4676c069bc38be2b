import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { guestDeclarations } from '../../syscalls/guest-declarations.js';
import { SYSCALLS } from '../../syscalls/table.js';
import { testKernel } from '../helpers/kernel.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the guest API has one source: the syscall table', () => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('guest/sys.d.ts is what the table generates (run `npm run generate` after changing a syscall)', () => {
    expect(read('guest/sys.d.ts')).toBe(guestDeclarations());
  });

  it('declares every syscall and nothing else', () => {
    const declared = [...guestDeclarations().matchAll(/^ {2,4}(?:readonly )?([a-z]+)\(/gm)].map((m) => m[1]);
    const names = [...SYSCALLS.keys()].map((name) => name.split('.').at(-1));
    expect(declared.sort()).toEqual(names.sort());
  });

  it('the prelude builds exactly the table: sys and its namespaces list every syscall, frozen', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      code: `export default () => {
        const names = [];
        for (const key of Object.keys(sys)) {
          if (typeof sys[key] === 'function') names.push(key);
          else for (const inner of Object.keys(sys[key])) names.push(key + '.' + inner);
        }
        return { names, frozen: Object.isFrozen(sys) && Object.isFrozen(sys.mem) };
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: { frozen: true } });
    const value = (result as { value: { names: string[] } }).value;
    expect(value.names.sort()).toEqual([...SYSCALLS.keys()].sort());
  });

  it("README's guest API table has one row per syscall and no row for anything else", () => {
    const readme = read('README.md');
    const section = readme.slice(
      readme.indexOf('## The guest API'),
      readme.indexOf('\n## ', readme.indexOf('## The guest API') + 5),
    );
    const rows = [...section.matchAll(/^\| `sys\.([a-z.]+)\(/gm)].map((m) => m[1]);
    expect(new Set(rows)).toEqual(new Set(SYSCALLS.keys()));
  });
});
