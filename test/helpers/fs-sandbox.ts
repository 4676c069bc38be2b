import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { Kernel } from '../../index.js';
import { KernelError } from '../../runtime/core/errors.js';
import type { Tool } from '../../runtime/tool-use/tool-contract.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createFsTools, type FsToolsOptions } from '../../tools/fs.js';
import { type TestToolContext, testToolContext } from './tool-context.js';

/** A temp dir holding `root` (the fs tools' only root) and `outside` (a sibling the tools must never reach). */
export interface FsSandbox {
  readonly base: string;
  readonly root: string;
  readonly outside: string;
  readonly tools: ReadonlyMap<string, Tool>;
  /** Calls a tool the way the kernel's gate does: schema, resource, then run (errors as KernelError). */
  call(name: string, args: unknown, ctx?: TestToolContext): Promise<unknown>;
  cleanup(): Promise<void>;
}

/** Builds a sandbox (real-pathed, so paths compare with what the tools report). */
export async function fsSandbox(options: Omit<FsToolsOptions, 'roots'> = {}): Promise<FsSandbox> {
  const base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-fs-')));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  const tools = new Map(createFsTools({ ...options, roots: [root] }).map((tool) => [tool.name, tool]));
  return {
    base,
    root,
    outside,
    tools,
    async call(name, args, ctx = testToolContext()) {
      const tool = tools.get(name);
      if (tool === undefined) throw new Error(`no tool ${name}`);
      return runToolUse(prepareToolUse(tool, args), ctx);
    },
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

/** What a call ended with: `{ ok }` or `{ code, message }` (a plain error shows as code 'PLAIN'). */
export async function outcome(
  running: Promise<unknown> | unknown,
): Promise<{ ok: unknown } | { code: string; message: string }> {
  try {
    return { ok: await running };
  } catch (error) {
    if (error instanceof KernelError) return { code: error.code, message: error.message };
    return { code: 'PLAIN', message: String(error) };
  }
}

/** The error code a call failed with, or 'ok'. */
export async function codeOf(running: Promise<unknown> | unknown): Promise<string> {
  const result = await outcome(running);
  return 'code' in result ? result.code : 'ok';
}

/** A suite's per-test kernel and the temp `root` its fs tools work in. */
export interface TempRootSuite {
  root: string;
  kernel: Kernel | undefined;
}

/**
 * Registers, for the calling suite, a fresh real-pathed `root` (inside a temp dir) before each test and, after
 * it, the suite's kernel closed and the temp dir removed.
 */
export function tempRootSuite(prefix: string): TempRootSuite {
  const suite: TempRootSuite = { root: '', kernel: undefined };
  let base = '';
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), prefix)));
    suite.root = join(base, 'root');
    await mkdir(suite.root);
  });
  afterEach(async () => {
    await suite.kernel?.close();
    suite.kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });
  return suite;
}
