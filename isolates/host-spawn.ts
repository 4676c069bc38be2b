import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Starting a sandbox host process, and nothing else: this module imports only Node built-ins, so the CLI's bin
 * can load it and start a host before it loads the kernel (`prestartSandboxHost`). The host then loads
 * isolated-vm on the other core while the kernel's modules load, instead of after them.
 */

/** How a sandbox host is started: the Node binary's arguments before the entry, and the entry script. */
export interface HostEntry {
  readonly execArgv: readonly string[];
  readonly script: string;
}

/** A started host process and the empty temp dir it runs in (its owner removes it when the host ends). */
export interface SpawnedHost {
  readonly child: ChildProcess;
  readonly dir: string;
}

let sourceEntry: HostEntry | undefined;

/**
 * The sandbox host program beside this module: the built .js. Run from source (tests, benches), the .ts is
 * bundled once per process with esbuild (the TypeScript loader's own compiler) into node_modules/.cache, one
 * copy per content shared by every process, so hosts start as fast as built ones; without esbuild it runs
 * through tsx, by absolute path since the host's cwd is an empty temp dir.
 */
export function defaultHostEntry(): HostEntry {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) return { execArgv: [], script: join(here, '..', 'sandbox-host.js') };
  sourceEntry ??= bundleFromSource(here);
  return sourceEntry;
}

function bundleFromSource(here: string): HostEntry {
  const require = createRequire(import.meta.url);
  const source = join(here, '..', 'sandbox-host.ts');
  try {
    const esbuild = require('esbuild') as typeof import('esbuild');
    const built = esbuild.buildSync({
      entryPoints: [source],
      outfile: 'sandbox-host.mjs',
      write: false,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    });
    const code = built.outputFiles[0]?.contents;
    if (code === undefined) throw new Error('esbuild wrote nothing');
    // The bundle reads the guest scripts beside it at run time (the prelude, the web globals), as the build's
    // copy-guest step places them beside the built host.
    const guestDir = join(here, '..', 'guest');
    const guests = readdirSync(guestDir)
      .filter((file) => file.endsWith('.cjs'))
      .sort();
    // Named by its content, so every process running the same sources shares one copy and none has to remove
    // it: a test worker killed by its runner never runs its exit handlers (a temp dir per process leaked one
    // per worker, over a thousand after a few days of test runs).
    const digest = createHash('sha256').update(code);
    for (const file of guests) digest.update(file).update(readFileSync(join(guestDir, file)));
    const cache = join(here, '..', '..', 'node_modules', '.cache');
    const dir = join(cache, `isokernel-host-${digest.digest('hex').slice(0, 16)}`);
    const script = join(dir, 'sandbox-host.mjs');
    if (!existsSync(script)) {
      // Written aside, then renamed into place: a reader never sees a half-written copy, and of two processes
      // racing the first rename wins (the second finds the directory there and drops its own).
      mkdirSync(cache, { recursive: true });
      const temp = mkdtempSync(join(cache, 'isokernel-host-tmp-'));
      mkdirSync(join(temp, 'guest'));
      for (const file of guests) copyFileSync(join(guestDir, file), join(temp, 'guest', file));
      writeFileSync(join(temp, 'sandbox-host.mjs'), code);
      try {
        renameSync(temp, dir);
      } catch (error) {
        rmSync(temp, { recursive: true, force: true });
        if (!existsSync(script)) throw error;
      }
    }
    return { execArgv: [], script };
  } catch {
    return { execArgv: ['--import', pathToFileURL(require.resolve('tsx')).href], script: source };
  }
}

/**
 * Starts a host process of `entry`: Node with --no-node-snapshot, a scrubbed environment (nothing of the
 * kernel's: no keys, tokens or paths) and an empty working directory; fd 3 is the frame channel, stderr is a
 * pipe its owner drains (isolated-vm prints there). The host does nothing until its owner sends `init`.
 */
export function spawnHost(entry: HostEntry): SpawnedHost {
  const dir = mkdtempSync(join(tmpdir(), 'isokernel-host-'));
  const child = spawn(process.execPath, ['--no-node-snapshot', ...entry.execArgv, entry.script], {
    cwd: dir,
    env: { TZ: 'UTC', LANG: 'C' },
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  child.stderr?.resume();
  return { child, dir };
}

let prestarted: (SpawnedHost & { readonly entry: HostEntry }) | undefined;

/**
 * Starts one host of the default entry now, for the first `SandboxHost` of this process to adopt, and returns
 * its pid. Until then it keeps nothing alive (the process may exit without using it), and it is killed when
 * the process exits. A no-op when one is already waiting.
 */
export function prestartSandboxHost(): number | undefined {
  if (prestarted !== undefined) return prestarted.child.pid;
  const entry = defaultHostEntry();
  const host = { ...spawnHost(entry), entry };
  prestarted = host;
  host.child.unref();
  for (const stream of [host.child.stderr, host.child.stdio[3]]) {
    (stream as { unref?: () => void } | null)?.unref?.();
  }
  process.once('exit', () => {
    if (prestarted !== host) return;
    host.child.kill('SIGKILL');
    rmSync(host.dir, { recursive: true, force: true });
  });
  return host.child.pid;
}

/**
 * The prestarted host, if there is one for `entry` and it is still running; it is then the caller's (refs
 * restored). Otherwise a prestarted host is discarded and undefined returned.
 */
export function takePrestartedHost(entry: HostEntry): SpawnedHost | undefined {
  const host = prestarted;
  if (host === undefined) return undefined;
  prestarted = undefined;
  const running = host.child.exitCode === null && host.child.signalCode === null;
  const same =
    host.entry.script === entry.script &&
    host.entry.execArgv.length === entry.execArgv.length &&
    host.entry.execArgv.every((arg, i) => arg === entry.execArgv[i]);
  if (!running || !same) {
    host.child.kill('SIGKILL');
    rmSync(host.dir, { recursive: true, force: true });
    return undefined;
  }
  host.child.ref();
  for (const stream of [host.child.stderr, host.child.stdio[3]]) {
    (stream as { ref?: () => void } | null)?.ref?.();
  }
  return { child: host.child, dir: host.dir };
}
