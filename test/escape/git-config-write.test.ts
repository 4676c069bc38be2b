/**
 * Attack: make git itself write the configuration (or a program) that git then runs. Reported (red-team pass
 * 87): with git granted by name and any arguments (agent_os_kernel's `proc.exec git`, as in
 * git-agent-repository.test.ts), no fs write of a `.git` path is needed, because git has path writers of its
 * own: `checkout-index --prefix=.git/` (with the config text stored by `hash-object -w --stdin` and staged by
 * `update-index --cacheinfo`), the same through a git-made symlink `x -> .git` (no argument names `.git`),
 * `archive -o .git/config` (a tree holding one file named `#c` hides the tar header in a comment), and
 * `merge-file .git/config base other`. Then `git x` runs the planted alias as the host user.
 *
 * Found on the way, same outcome without any configuration: git executes agent-written files by path. A
 * subcommand with a `/` is run as `git-<subcommand>` relative to cwd (`git /pay` runs `./git-/pay`), a merge
 * strategy with a `/` likewise (`cherry-pick --strategy=/../pay` runs `./git-merge-/../pay`), and
 * `merge-index <program>` runs any program. git's checkout makes the file executable (mode 100755).
 *
 * And the general defense, for writers nobody listed: a repository whose configuration holds any key outside
 * the inert allowlist is refused before git starts. A real git, a real temp dir; every payload would create a
 * file named `pwned-*`, and none may exist afterwards.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, realpath, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel, loadPolicy } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

let base: string;
let out: string;
let kernel: Kernel | undefined;

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-gitwrite-')));
  out = join(base, 'out');
  await mkdir(out);
});

afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  await rm(base, { recursive: true, force: true });
});

/** Every file under `dir` whose name starts with `pwned`. */
function markers(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((path) => /(^|\/)pwned/.test(path));
}

/** The seeded policy of git-agent-repository.test.ts: `proc.exec git` with any arguments, fs.write if asked. */
function seeded(withFs: boolean): Kernel {
  const policy = loadPolicy({
    capabilities: [
      ...(withFs ? [{ action: 'fs.write', resource: `${out}/**` }] : []),
      { action: 'proc.exec', resource: 'git' },
    ],
  });
  kernel = testKernel({
    tools: [
      ...createFsTools({ roots: [base] }),
      createProcTool({ programs: {}, roots: [base], policy, searchPath: '/usr/bin:/bin' }),
    ],
    policy,
  });
  return kernel;
}

/**
 * Runs `body` as an agent with `git(args, stdin?)` (cwd out/w, after `git init -q w` in out) returning
 * `[exit_code, stdout]` or `[error code, message]`. Returns the agent's value.
 */
async function agent(body: string, input: unknown, withFs = false): Promise<unknown> {
  const k = seeded(withFs);
  const result = await k.run({
    input,
    code: `export default async (input) => {
      const git = async (args, stdin) => {
        try {
          const r = await sys.tool('proc.exec', { program: 'git', args, cwd: 'out/w', ...(stdin === undefined ? {} : { stdin }) });
          return [r.exit_code, r.stdout.trim()];
        } catch (e) { return [e.code, e.message]; }
      };
      await sys.tool('proc.exec', { program: 'git', args: ['init', '-q', 'w'], cwd: 'out' });
      ${body}
    }`,
  });
  if (!result.ok) throw new Error(`agent failed: ${result.error.code} ${result.error.message}`);
  return result.value;
}

const aliasConfig = (marker: string) =>
  `[core]\n\trepositoryformatversion = 0\n\tbare = false\n[alias]\n\tx = !touch ${marker}\n`;

/** A payload script git will check out executable. */
const script = (marker: string) => `#!/bin/sh\ntouch ${marker}\n`;

describe('git writes its own configuration (red-team pass 87)', () => {
  it('hash-object + update-index + checkout-index --prefix=.git/ cannot plant an alias', async () => {
    const outcomes = (await agent(
      `const sha = (await git(['hash-object', '-w', '--stdin'], input))[1];
       return [
         await git(['update-index', '--add', '--cacheinfo', '100644,' + sha + ',config']),
         await git(['checkout-index', '-f', '--prefix=.git/', 'config']),
         await git(['x']),
       ];`,
      aliasConfig(join(base, 'pwned-checkout-index')),
    )) as unknown[][];
    expect(markers(base)).toEqual([]);
    expect(outcomes[1]?.[0]).toBe('E_CAP_DENIED');
  });

  it('a git-made symlink x -> .git, then checkout-index --prefix=x/ (no argument names .git)', async () => {
    const outcomes = (await agent(
      `const link = (await git(['hash-object', '-w', '--stdin'], '.g' + 'it'))[1];
       const conf = (await git(['hash-object', '-w', '--stdin'], input))[1];
       return [
         await git(['update-index', '--add', '--cacheinfo', '120000,' + link + ',x']),
         await git(['checkout-index', 'x']),
         await git(['update-index', '--add', '--cacheinfo', '100644,' + conf + ',config']),
         await git(['checkout-index', '-f', '--prefix=x/', 'config']),
         await git(['x']),
       ];`,
      aliasConfig(join(base, 'pwned-symlink-prefix')),
    )) as unknown[][];
    // core.symlinks=false: git checks the link out as a plain file holding ".git", never as a symlink.
    expect(markers(base)).toEqual([]);
    expect(
      readdirSync(join(out, 'w'), { withFileTypes: true })
        .find((e) => e.name === 'x')
        ?.isFile(),
    ).toBe(true);
    expect(outcomes[3]?.[0]).toBe('E_CAP_DENIED');
  });

  it('archive -o .git/config (a tar header hidden in a # comment) is refused', async () => {
    const payload = `\n[core]\n\trepositoryformatversion = 0\n\tbare = false\n[alias]\n\tx = !touch ${join(base, 'pwned-archive')}\n#`;
    const outcomes = (await agent(
      `const blob = (await git(['hash-object', '-w', '--stdin'], input))[1];
       const tree = (await git(['mktree'], '100644 blob ' + blob + '\\t#c\\n'))[1];
       return [
         await git(['archive', '--format=tar', '-o', '.git/config', tree]),
         await git(['archive', '--format=tar', '-o', 'c', tree]),
         await git(['x']),
       ];`,
      payload,
    )) as unknown[][];
    expect(markers(base)).toEqual([]);
    expect(outcomes.slice(0, 2).map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
  });

  it('merge-file .git/config base other (it writes its first path) is refused', async () => {
    const marker = join(base, 'pwned-merge-file');
    const outcomes = (await agent(
      `const sha = (await git(['hash-object', '-w', '.git/config']))[1];
       const current = (await git(['cat-file', 'blob', sha]))[1] + '\\n';
       await sys.tool('fs.write', { path: 'out/w/base', content: current });
       await sys.tool('fs.write', { path: 'out/w/other', content: current + '[alias]\\n\\tx = !touch ' + input + '\\n' });
       return [await git(['merge-file', '.git/config', 'base', 'other']), await git(['merge-file', 'base', 'base', 'other']), await git(['x'])];`,
      marker,
      true,
    )) as unknown[][];
    expect(markers(base)).toEqual([]);
    expect(outcomes.slice(0, 2).map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
  });
});

describe('git writes where a patch or its working directory says (review 89)', () => {
  const newFile = (path: string, text: string) =>
    `diff --git a/${path} b/${path}\nnew file mode 100644\n--- /dev/null\n+++ b/${path}\n@@ -0,0 +1 @@\n+${text}\n`;

  it('apply --unsafe-paths (in any spelling), which writes any path a patch names, is refused', async () => {
    const target = join(base, 'pwned-outside-out');
    const outcomes = (await agent(
      `return [await git(['apply', '--unsafe-paths'], input), await git(['apply', '--uns'], input)];`,
      newFile(target, 'agent bytes'),
    )) as unknown[][];
    expect(outcomes.map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
    expect(markers(base)).toEqual([]);
    // Without it, git keeps a patch to the work tree.
    const plain = (await agent(`return await git(['apply'], input);`, newFile(target, 'agent bytes'))) as unknown[];
    expect(plain[0]).not.toBe(0);
    expect(markers(base)).toEqual([]);
  });

  it('no program runs with its working directory inside .git, in any spelling', async () => {
    const identity =
      'diff --git a/config b/config\n--- a/config\n+++ b/config\n@@ -1 +1,2 @@\n-[core]\n+[alias]\n+\tx = !touch pwned\n';
    const outcomes = (await agent(
      `const at = async (cwd) => {
         try { return (await sys.tool('proc.exec', { program: 'git', args: ['apply'], cwd, stdin: input })).exit_code; }
         catch (e) { return e.code; }
       };
       return [await at('out/w/.git'), await at('out/w/.GIT.'), await at('out/w/.git/refs')];`,
      identity,
    )) as unknown[];
    expect(outcomes).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED', 'E_CAP_DENIED']);
    expect(readFileSync(join(out, 'w', '.git', 'config'), 'utf8')).not.toContain('alias');
  });
});

describe('git writes where a ref name or a path argument says (review 91)', () => {
  it('a symbolic-ref name with .. (it wrote a rebase strategy file, then a program ran) is refused', async () => {
    const outcomes = (await agent(
      `return [
         await git(['symbolic-ref', 'refs/heads/../../rebase-merge/strategy', 'refs/heads/x']),
         await git(['symbolic-ref', 'refs/heads/../../config', 'refs/heads/x']),
       ];`,
      null,
    )) as unknown[][];
    expect(outcomes.map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
    expect(readFileSync(join(out, 'w', '.git', 'config'), 'utf8')).toContain('[core]');
  });

  it('subcommands that write where they are told cannot be told a path outside the run’s directory', async () => {
    const outside = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-git-outside-')));
    try {
      const outcomes = (await agent(
        `const o = input;
         return [
           await git(['init', '-q', o + '/init']),
           await git(['worktree', 'add', '-q', o + '/wt']),
           await git(['format-patch', '-1', '-o', o + '/fp']),
           await git(['format-patch', '-1', '--output-directory=' + o + '/fp2']),
           await git(['bundle', 'create', o + '/b.bundle', 'HEAD']),
           await git(['read-tree', '--index-output=' + o + '/idx', 'HEAD']),
           await git(['mailsplit', '-o' + o]),
           await git(['worktree', 'add', '-q', '../wt']),
           await git(['merge-file', '-Lp', '-L', 'b', '-L', 'c', o + '/victim', 'base', 'other']),
         ];`,
        outside,
      )) as unknown[][];
      expect(outcomes.map((o) => o[0])).toEqual(Array(9).fill('E_CAP_DENIED'));
      expect(readdirSync(outside)).toEqual([]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('git runs an agent-written program by path', () => {
  /** Agent code that checks `pay` (and `<dir>/pay` for each dir) out executable. */
  const checkoutPayload = (dirs: string[]) => `
    const pay = (await git(['hash-object', '-w', '--stdin'], input))[1];
    for (const path of ${JSON.stringify(['pay', ...dirs.map((d) => `${d}/pay`)])}) {
      await git(['update-index', '--add', '--cacheinfo', '100755,' + pay + ',' + path]);
      await git(['checkout-index', '-f', path]);
      await git(['update-index', '--force-remove', path]);
    }`;

  it('a subcommand with a slash (`git /pay` runs ./git-/pay) is refused', async () => {
    const outcomes = (await agent(
      `${checkoutPayload(['git-'])}
       return [await git(['/pay']), await git(['--no-pager', '/pay'])];`,
      script(join(base, 'pwned-dashed')),
    )) as unknown[][];
    expect(markers(base)).toEqual([]);
    expect(outcomes.map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
  });

  it('bisect view/visualize (it runs `git <words>`, or the first word itself) is refused (review 90)', async () => {
    const marker = join(base, 'pwned-bisect-view');
    const outcomes = (await agent(
      `const id = 'a <a@b> 0 +0000';
       const empty = (await git(['mktree'], ''))[1];
       const c1 = (await git(['hash-object', '-t', 'commit', '-w', '--stdin'], 'tree ' + empty + '\\nauthor ' + id + '\\ncommitter ' + id + '\\n\\none\\n'))[1];
       const c2 = (await git(['hash-object', '-t', 'commit', '-w', '--stdin'], 'tree ' + empty + '\\nparent ' + c1 + '\\nauthor ' + id + '\\ncommitter ' + id + '\\n\\ntwo\\n'))[1];
       await git(['update-ref', 'HEAD', c2]);
       const started = await git(['bisect', 'start', '--no-checkout', c2, c1]);
       return [
         started,
         await git(['bisect', 'view', 'filter-branch', '-f', '--tree-filter', 'touch ' + input, 'HEAD']),
         await git(['bisect', 'visualize', 'filter-branch', '-f', '--tree-filter', 'touch ' + input, 'HEAD']),
       ];`,
      marker,
    )) as unknown[][];
    expect(markers(base)).toEqual([]);
    expect(outcomes[0]?.[0]).toBe(0);
    expect(outcomes.slice(1).map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
  });

  it('subtree and fast-import, which write into .git at paths a commit message or a stream names, are refused (review 90)', async () => {
    const outcomes = (await agent(
      `return [await git(['subtree', 'split', '--prefix=x', 'HEAD']), await git(['fast-import', '--relative-marks', '--export-marks=../../config'], '')];`,
      null,
    )) as unknown[][];
    expect(outcomes.map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
  });

  it('a merge strategy with a slash (cherry-pick --strategy=/../pay runs ./git-merge-/../pay) is refused', async () => {
    const outcomes = (await agent(
      `${checkoutPayload(['git-merge-'])}
       const id = 'a <a@b> 0 +0000';
       const empty = (await git(['mktree'], ''))[1];
       const blob = (await git(['hash-object', '-w', '--stdin'], 'x'))[1];
       const full = (await git(['mktree'], '100644 blob ' + blob + '\\tf\\n'))[1];
       const c1 = (await git(['hash-object', '-t', 'commit', '-w', '--stdin'], 'tree ' + empty + '\\nauthor ' + id + '\\ncommitter ' + id + '\\n\\none\\n'))[1];
       const c2 = (await git(['hash-object', '-t', 'commit', '-w', '--stdin'], 'tree ' + full + '\\nparent ' + c1 + '\\nauthor ' + id + '\\ncommitter ' + id + '\\n\\ntwo\\n'))[1];
       await git(['update-ref', 'HEAD', c1]);
       return [
         await git(['cherry-pick', '--strategy=/../pay', c2]),
         await git(['cherry-pick', '--strategy', '/../pay', c2]),
         await git(['revert', '--strat=/../pay', c2]),
         await git(['rebase', '-s/../pay', c2]),
       ];`,
      script(join(base, 'pwned-strategy')),
    )) as unknown[][];
    expect(markers(base)).toEqual([]);
    expect(outcomes.map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED', 'E_CAP_DENIED', 'E_CAP_DENIED']);
  });

  it('merge-index <program> (it runs the program for each unmerged path) is refused', async () => {
    const outcomes = (await agent(
      `${checkoutPayload([])}
       const b = (await git(['hash-object', '-w', '--stdin'], 'x'))[1];
       await git(['update-index', '--index-info'], [1, 2, 3].map((s) => '100644 ' + b + ' ' + s + '\\tf\\n').join(''));
       return [await git(['merge-index', './pay', '-a']), await git(['submodule--helper', 'foreach', './pay'])];`,
      script(join(base, 'pwned-merge-index')),
    )) as unknown[][];
    expect(markers(base)).toEqual([]);
    expect(outcomes.map((o) => o[0])).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
  });
});

describe('a repository whose configuration names a program is refused before git starts', () => {
  // Stands in for a path writer nobody has listed yet: the host appends the agent's bytes itself.
  it.each([
    ['an alias', '[alias]\n\tx = !touch MARKER\n', ['status']],
    ['an include', '[include]\n\tpath = ../../evil\n', ['status']],
    ['a filter driver', '[filter "f"]\n\tclean = touch MARKER\n', ['status']],
    ['a worktree elsewhere', '[core]\n\tworktree = /\n', ['status']],
    ['a valueless key', '[diff]\n\texternal\n', ['status']],
    ['an unparseable file', '[alias\n', ['status']],
  ])('%s: every git call there is E_CAP_DENIED', async (_name, text, args) => {
    await mkdir(join(out, 'w'));
    const k = seeded(false);
    await k.run({
      code: `export default async () => sys.tool('proc.exec', { program: 'git', args: ['init', '-q', 'w'], cwd: 'out' })`,
    });
    await appendFile(join(out, 'w', '.git', 'config'), text.replace('MARKER', join(base, 'pwned-config')));
    const result = await k.run({
      input: args,
      code: `export default async (args) => {
        try { return (await sys.tool('proc.exec', { program: 'git', args, cwd: 'out/w' })).exit_code; }
        catch (e) { return [e.code, e.message]; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['E_CAP_DENIED', expect.stringMatching(/configuration/)] });
    expect(JSON.stringify(result)).not.toContain(base);
    expect(markers(base)).toEqual([]);
  });

  it('git does not enter a nested repository whose configuration was not checked (a submodule)', async () => {
    // The host builds w with a committed, populated nested repository sub whose own config has a clean
    // filter (as an unlisted writer run in out/w/sub could leave it); status in w would run git in sub.
    const env = {
      PATH: '/usr/bin:/bin',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'a',
      GIT_AUTHOR_EMAIL: 'a@b',
      GIT_COMMITTER_NAME: 'a',
      GIT_COMMITTER_EMAIL: 'a@b',
    };
    const w = join(out, 'w');
    const sub = join(w, 'sub');
    const host = (cwd: string, ...args: string[]) => spawnSync('/usr/bin/git', args, { cwd, env });
    await mkdir(sub, { recursive: true });
    host(w, 'init', '-q');
    host(sub, 'init', '-q');
    await writeFile(join(sub, 'f'), 'a\n');
    await writeFile(join(sub, '.gitattributes'), '* filter=x\n');
    host(sub, 'add', '-A');
    host(sub, 'commit', '-qm', 's');
    host(w, 'add', 'sub');
    host(w, 'commit', '-qm', 'super');
    await appendFile(
      join(sub, '.git', 'config'),
      `[filter "x"]\n\tclean = touch ${join(base, 'pwned-submodule')}; cat\n`,
    );
    await utimes(join(sub, 'f'), 946684800, 946684800);
    await writeFile(join(sub, 'f'), 'changed\n');
    const k = seeded(false);
    const result = await k.run({
      code: `export default async () => {
        const outcomes = [];
        for (const args of [['status', '--short'], ['diff', 'HEAD'], ['status', '--recurse-submodules'], ['status', '--ignore-submodules=none']]) {
          try { outcomes.push((await sys.tool('proc.exec', { program: 'git', args, cwd: 'out/w' })).exit_code); }
          catch (e) { outcomes.push(e.code); }
        }
        return outcomes;
      }`,
    });
    expect(markers(base)).toEqual([]);
    expect(result).toMatchObject({ ok: true, value: [0, 0, 'E_CAP_DENIED', 'E_CAP_DENIED'] });
  });

  it('a clean repository still works: init, commit through plumbing, log', async () => {
    const value = await agent(
      `const id = 'a <a@b> 0 +0000';
       const tree = (await git(['mktree'], ''))[1];
       const c = (await git(['hash-object', '-t', 'commit', '-w', '--stdin'], 'tree ' + tree + '\\nauthor ' + id + '\\ncommitter ' + id + '\\n\\nm\\n'))[1];
       await git(['update-ref', 'HEAD', c]);
       return [await git(['log', '--format=%s']), await git(['status', '--short'])];`,
      null,
    );
    expect(value).toEqual([
      [0, 'm'],
      [0, ''],
    ]);
  });
});
