/**
 * Attack: make a program git starts run a command of the agent's, through that program's own configuration in the
 * user's home. Reported (red-team pass 121): git's pinned `core.sshCommand` was plain `ssh`, and OpenSSH reads
 * `~/.ssh/config` from the home the user database names (getpwuid), whatever HOME says; its pinned `gpg.program`
 * was plain `gpg`, which reads `$GNUPGHOME` or `$HOME/.gnupg/gpg.conf`. With that home in an fs root (the CLI's
 * default root is the current directory: `isokernel run` started from `~`), an agent with fs.write and `proc.exec
 * git` wrote a ProxyCommand and `git ls-remote ssh://…` ran it, unconfined: it read a file outside every root and
 * its parent's environment. Or it wrote a gpg.conf naming its own `dirmngr-program` (made executable by git itself:
 * `update-index --chmod=+x`, `checkout-index -f`) with `auto-key-retrieve`, and `git log --show-signature` on a
 * commit signed by an unknown key started it, confined or not.
 *
 * Fixed in tools/proc-git.ts: ssh is told to read no configuration file (`ssh -F /dev/null`) and gpg's home is
 * the call's private scratch directory (GNUPGHOME). Every payload writes a file named `pwned`; none may exist.
 * The ssh case needs the user database's home to be an fs root without touching the real one: it runs a kernel in
 * a child in a private mount namespace with a temp dir bound over that home (skipped where `unshare -m` is refused).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel, loadPolicy } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';
import { runNode, TSX_MODULE_ARGS } from '../helpers/node-process.js';

let home: string;
let kernel: Kernel | undefined;

beforeEach(async () => {
  home = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-git-home-')));
});

afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  await rm(home, { recursive: true, force: true });
});

/** A commit signed by a key nobody has (made once with a throwaway key), so gpg would look the key up. */
const SIGNED_COMMIT = `tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904
author a <a@b> 1 +0000
committer a <a@b> 1 +0000
gpgsig -----BEGIN PGP SIGNATURE-----
 
 iHUEABYIAB0WIQRL+t0ATx8wqyyPinK51uBYq1I5PAUCaxYIwAAKCRC51uBYq1I5
 PJiJAQDOcro/zqNNrEVisRCmwFW0V6YZSekrIaSOep9Y+x9/uQD8CGvBRy5Zxfd3
 070TCOGtY2r+12dslgJvYYHK6HfbEAQ=
 =xyVu
 -----END PGP SIGNATURE-----

signed
`;

describe('programs git starts, with HOME in an fs root (red-team pass 121, review 123)', () => {
  // HOME passed through the policy's `env`, pointing into the root: gpg reads $HOME/.gnupg without GNUPGHOME,
  // man reads $HOME/.manpath.
  const saved = process.env['HOME'];
  beforeEach(() => {
    process.env['HOME'] = home;
  });
  afterEach(() => {
    process.env['HOME'] = saved;
  });

  function homeKernel(sandbox: 'off' | 'auto'): Kernel {
    const policy = loadPolicy({
      capabilities: [
        { action: 'fs.write', resource: `${home}/**` },
        { action: 'proc.exec', resource: 'git' },
      ],
    });
    kernel = testKernel({
      tools: [
        ...createFsTools({ roots: [home] }),
        createProcTool({ programs: {}, roots: [home], policy, searchPath: '/usr/bin:/bin', env: ['HOME'], sandbox }),
      ],
      policy,
    });
    return kernel;
  }

  for (const sandbox of ['off', 'auto'] as const) {
    it(`git log --show-signature does not start the agent's dirmngr-program (sandbox ${sandbox})`, async () => {
      const result = await homeKernel(sandbox).run({
        input: { commit: SIGNED_COMMIT, home },
        code: `export default async ({ commit, home }) => {
          const git = (args, stdin) => sys.tool('proc.exec', { program: 'git', args, ...(stdin === undefined ? {} : { stdin }) });
          await sys.tool('fs.write', { path: home + '/.gnupg/gpg.conf', content: 'auto-key-retrieve\\ndirmngr-program ' + home + '/pay.sh\\n', mkdirs: true });
          await sys.tool('fs.write', { path: home + '/pay.sh', content: '#!/bin/sh\\ntouch ' + home + '/pwned\\nexit 1\\n' });
          await git(['init', '-q']);
          await git(['add', 'pay.sh']);
          await git(['update-index', '--chmod=+x', 'pay.sh']);
          await git(['checkout-index', '-f', 'pay.sh']);
          const made = await git(['hash-object', '-t', 'commit', '-w', '--stdin'], commit);
          const shown = await git(['log', '--show-signature', '-1', made.stdout.trim()]);
          return shown.stdout + shown.stderr;
        }`,
      });
      if (!result.ok) throw new Error(`agent failed: ${result.error.code} ${result.error.message}`);
      // gpg did run and looked at the signature: the attack was reached, and refused by gpg's empty home.
      expect(result.value).toMatch(/signature/i);
      expect(result.value).not.toContain('pay.sh');
      expect(existsSync(join(home, 'pwned'))).toBe(false);
    }, 60_000);

    it(`git's help does not run man with the agent's formatter (sandbox ${sandbox})`, async () => {
      const result = await homeKernel(sandbox).run({
        input: { home },
        code: `export default async ({ home }) => {
          await sys.tool('fs.write', { path: home + '/pay.txt', content: 'touch ' + home + '/pwned\\n' });
          await sys.tool('fs.write', { path: home + '/.manpath', content: 'DEFINE nroff /bin/sh ' + home + '/pay.txt\\n' });
          const out = [];
          for (const args of [['--help', 'log'], ['-h', 'log'], ['log', '--help'], ['-P', 'status', '--help']]) {
            try {
              const r = await sys.tool('proc.exec', { program: 'git', args });
              out.push('ran ' + r.exit_code);
            } catch (e) {
              out.push(e.code);
            }
          }
          return out;
        }`,
      });
      expect(result).toMatchObject({ ok: true, value: Array(4).fill('E_CAP_DENIED') });
      expect(existsSync(join(home, 'pwned'))).toBe(false);
    }, 60_000);
  }
});

const ENTRY = fileURLToPath(new URL('../../index.ts', import.meta.url));
const CWD = fileURLToPath(new URL('../../', import.meta.url));
const PASSWD_HOME = userInfo().homedir;
const PRIVATE_MOUNTS =
  process.platform === 'linux' &&
  existsSync(PASSWD_HOME) &&
  spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind /tmp /tmp'], {
    stdio: 'ignore',
    timeout: 10_000,
  }).status === 0;

/** `node …` in a private mount namespace where `source` is bound over the user database's home. */
const inPrivateHome = (source: string) => [
  'unshare',
  '-m',
  '--propagation',
  'private',
  'sh',
  '-c',
  'mount --bind "$0" "$1" && shift && exec "$@"',
  source,
  PASSWD_HOME,
];

describe.skipIf(!PRIVATE_MOUNTS)("ssh's configuration in the user database's home (red-team pass 121)", () => {
  it('git ls-remote ssh:// does not run a ProxyCommand the agent wrote (unconfined)', async () => {
    const marker = join(PASSWD_HOME, 'pwned');
    const config = `Host *\n  ProxyCommand /bin/sh -c 'touch ${marker}; echo PROXY-RAN >&2; exit 1'\n`;
    const script = `
      const { Kernel, createFsTools, createProcTool, loadPolicy } = await import(${JSON.stringify(ENTRY)});
      const home = ${JSON.stringify(PASSWD_HOME)};
      const policy = loadPolicy({ capabilities: [
        { action: 'fs.write', resource: home + '/**' },
        { action: 'proc.exec', resource: 'git' },
      ] });
      const kernel = Kernel.create({ isolation: 'inline', policy, tools: [
        ...createFsTools({ roots: [home] }),
        createProcTool({ programs: {}, roots: [home], policy, searchPath: '/usr/bin:/bin', sandbox: 'off' }),
      ] });
      const result = await kernel.run({
        input: { home, config: ${JSON.stringify(config)} },
        code: \`export default async ({ home, config }) => {
          await sys.tool('fs.write', { path: home + '/.ssh/config', content: config, mkdirs: true });
          const r = await sys.tool('proc.exec', { program: 'git', args: ['ls-remote', 'ssh://example.invalid/x'] });
          return r.stderr;
        }\`,
      });
      await kernel.close();
      console.log(JSON.stringify(result.ok ? { stderr: result.value } : { error: result.error.code }));
    `;
    const run = await runNode([...TSX_MODULE_ARGS, script], {
      cwd: CWD,
      under: inPrivateHome(home),
      timeoutMs: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const reported = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { stderr?: string };
    // ssh ran (it failed to reach the host), and never the agent's command.
    expect(reported.stderr).toMatch(/ssh|resolve|hostname/i);
    expect(reported.stderr).not.toContain('PROXY-RAN');
    // The namespace's home was `home`: the marker would be there.
    expect(existsSync(join(home, 'pwned'))).toBe(false);
    expect(existsSync(join(home, '.ssh', 'config'))).toBe(true);
  }, 90_000);
});
