import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { runNode } from './node-process.js';

/** The repository root and the real bin (which runs dist/: build before these tests). */
export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(REPO, 'bin/isokernel.js');

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the real CLI in a child process. Asynchronous on purpose: a test's own HTTP server must keep
 * answering while the CLI runs. `cwd` defaults to a directory the test owns, never the repository.
 */
export async function isokernel(
  args: readonly string[],
  options: { cwd: string; env?: Readonly<Record<string, string>> },
): Promise<CliRun> {
  const { status, stdout, stderr } = await runNode([BIN, ...args], {
    cwd: options.cwd,
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
    timeoutMs: 30_000,
  });
  return { status, stdout, stderr };
}

/** Parses the JSON a command printed on stdout, with the output in the error when it is not JSON. */
export function json<T = unknown>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${run.status}):\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}

/** A test's own temp directory (real-pathed): `root` for the fs tools, `outside` next to it, `store` for state. */
export interface Workspace {
  readonly dir: string;
  readonly root: string;
  readonly outside: string;
  readonly store: string;
  /** Writes `content` to `name` under `dir`; returns the absolute path. */
  file(name: string, content: string): string;
  /** Writes `policy` as YAML to `name` under `dir`; returns the absolute path. */
  policy(policy: unknown, name?: string): string;
  /** Runs the CLI with this workspace's `dir` as the current directory unless `cwd` says otherwise. */
  run(args: readonly string[], cwd?: string, env?: Readonly<Record<string, string>>): Promise<CliRun>;
  cleanup(): void;
}

export function workspace(): Workspace {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-cliproc-')));
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  return {
    dir,
    root,
    outside,
    store: join(dir, 'store'),
    file,
    policy: (policy, name = 'policy.yaml') => file(name, stringify(policy)),
    run: (args, cwd = dir, env) => isokernel(args, { cwd, ...(env === undefined ? {} : { env }) }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
