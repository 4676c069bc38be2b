import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kernel } from '../kernel-entry.js';
import { lockPathOf } from '../runtime/audit/file-store.js';
import { KernelError } from '../runtime/core/errors.js';
import type { Limits } from '../runtime/process/limits.js';
import type { RunResult } from '../runtime/process/run-result.js';
import { absoluteAsGiven, builtinTools } from './builtin-tools.js';
import {
  DEFAULT_STORE,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  type Io,
  sanitizeForTerminal,
  terminalSafeJson,
} from './io.js';

export { DEFAULT_STORE } from './io.js';

export interface RunOptions {
  input?: string;
  policy?: string;
  store?: string;
  audit?: string;
  cpuMs?: number;
  wallMs?: number;
  memoryMb?: number;
  /** fs roots (default: the current directory). */
  root?: string[];
  /** Programs agents may spawn by name: `name=file`. */
  program?: string[];
  /** Start from this snapshot instead of a file. */
  restore?: string;
  /** Where agent code runs: 'process' (default) or 'inline'. */
  isolation?: string;
}

/**
 * `isokernel run <file>`: runs one agent, prints its result as JSON on stdout and a one-line summary on
 * stderr. Exit 0 when the agent succeeded, 1 when it failed, 2 on a usage error.
 */
export async function runCommand(file: string | undefined, options: RunOptions, io: Io): Promise<number> {
  if ((file === undefined) === (options.restore === undefined)) {
    io.err('isokernel run: give an agent file or --restore <snapshot id>, not both');
    return EXIT_USAGE;
  }
  let input: unknown = null;
  if (options.input !== undefined) {
    try {
      input = JSON.parse(options.input);
    } catch {
      io.err('isokernel run: --input must be JSON');
      return EXIT_USAGE;
    }
  }
  const limits: Partial<Record<keyof Limits, number>> = {};
  if (options.cpuMs !== undefined) limits.cpu_ms = options.cpuMs;
  if (options.wallMs !== undefined) limits.wall_ms = options.wallMs;
  if (options.memoryMb !== undefined) limits.memory_mb = options.memoryMb;

  const isolation = options.isolation ?? 'process';
  if (isolation !== 'process' && isolation !== 'inline') {
    io.err("isokernel run: --isolation must be 'process' or 'inline'");
    return EXIT_USAGE;
  }
  const store = options.store ?? DEFAULT_STORE;
  const auditFile = options.audit ?? join(store, 'audit.jsonl');
  let kernel: Kernel;
  try {
    kernel = Kernel.create({
      isolation,
      store,
      audit: { file: auditFile, fsync: 'interval' },
      ...(options.policy === undefined ? {} : { policy: options.policy }),
    });
  } catch (error) {
    io.err(`isokernel run: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_USAGE;
  }
  try {
    kernel.tools.add(
      ...builtinTools(kernel.policy, options.root ?? [], kernelState(store, auditFile, runInputs(options)), {
        warn: (message) => io.err(`isokernel run: warning: ${message}`),
      }),
    );
    for (const entry of options.program ?? []) {
      const at = entry.indexOf('=');
      if (at < 1) throw new TypeError(`--program ${entry}: expected name=file`);
      kernel.programs.add(entry.slice(0, at), readFileSync(entry.slice(at + 1), 'utf8'));
    }
  } catch (error) {
    io.err(`isokernel run: ${error instanceof Error ? error.message : String(error)}`);
    await kernel.close();
    return EXIT_USAGE;
  }
  // console.warn and friends carry their level: `[agent:warn] ...`; sys.log and console.log print as `[agent] ...`.
  kernel.on('log', (event) => {
    const tag = event.level === undefined || event.level === 'log' ? 'agent' : `agent:${event.level}`;
    io.err(`[${tag}] ${sanitizeForTerminal(event.text)}`);
  });
  const firstSeq = kernel.audit.size;
  let result: RunResult;
  try {
    result =
      options.restore === undefined
        ? await kernel.run({ file: file ?? '', input, limits })
        : await (await kernel.restore(options.restore, { input, limits })).result;
  } catch (error) {
    await kernel.close();
    // A kernel refusal (a tampered or unknown snapshot: E_BAD_SNAPSHOT) is a failure, not a usage error.
    if (error instanceof KernelError) {
      io.err(`isokernel run: ${error.code}: ${sanitizeForTerminal(error.message)}`);
      return EXIT_FAILED;
    }
    io.err(`isokernel run: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_USAGE;
  }
  const lastSeq = kernel.audit.size - 1;
  await kernel.close();
  io.out(terminalSafeJson(result.ok ? result.value : { error: result.error }));
  const records = lastSeq >= firstSeq ? `seq=${firstSeq}..${lastSeq}` : 'seq=none';
  io.err(`${summary(result)} audit=${auditFile} ${records}`);
  return result.ok ? EXIT_OK : EXIT_FAILED;
}

/**
 * The files the kernel keeps for itself: the store, the audit log and what sits beside it (checkpoints,
 * lock), and the files the command was given that decide what agents may do (`inputs`: the policy, `--program`
 * files). The built-in tools refuse them, or an agent could read the root key or rewrite labels, counters,
 * revocations, undo records and the log, or rewrite the policy the next run loads (review 94: `sandbox: off` and
 * `sh`, then a host file read).
 */
export function kernelState(store: string, auditFile: string, inputs: readonly (string | undefined)[] = []): string[] {
  // As given (absolute, `..` kept): the files are read where the system resolves their paths, which `builtinTools`
  // excludes along with the normalized spelling (red-team pass 135).
  const given = inputs.filter((path): path is string => path !== undefined).map(absoluteAsGiven);
  // The writer's lock sits beside the log's real file (a symlinked --audit's target, or where a `..` after a symlink
  // leads), where the log takes it.
  let lock: string[] = [];
  try {
    lock = [lockPathOf(auditFile)];
  } catch {
    // A directory on the way is missing: the log cannot be opened there either, and the run fails before any agent.
  }
  return [store, auditFile, `${auditFile}.checkpoints`, `${auditFile}.lock`, ...lock, ...given];
}

/** The policy and `--program` files a run was given. */
function runInputs(options: { readonly policy?: string; readonly program?: readonly string[] }): string[] {
  const programs = (options.program ?? []).map((entry) => entry.slice(entry.indexOf('=') + 1)).filter(Boolean);
  return [...(options.policy === undefined ? [] : [options.policy]), ...programs];
}

function summary(result: RunResult): string {
  const { cpu_ms, wall_ms, heap_peak_mb, syscalls } = result.usage;
  // The message of an agent's failure is its own text: terminal escapes and line breaks in it could redraw the
  // screen or forge this very line (red-team pass 54).
  const status = result.ok ? 'ok' : `${result.error.code} (${sanitizeForTerminal(result.error.message)})`;
  return `isokernel: ${status} cpu=${cpu_ms}ms wall=${wall_ms}ms heap_peak=${heap_peak_mb}MB syscalls=${syscalls}`;
}
