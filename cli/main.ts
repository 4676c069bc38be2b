import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { SigningKey } from '../runtime/capability/signing-key.js';
import { decodeBase64Url } from '../runtime/core/base64.js';
import type { AuditShowStatus } from './audit.js';
import type { BenchOptions } from './bench.js';
import { registerChat } from './chat.js';
import { DEFAULT_STORE, EXIT_USAGE, type Io, processIo } from './io.js';
import { registerMcp } from './mcp-serve.js';
import type { RollbackOptions } from './rollback.js';
import type { RunOptions } from './run.js';

// Each command's module is imported when that command runs, not when the CLI starts: a run must not pay for
// loading the MCP SDK, the model client, the bench harness or the policy checker (importing every command
// module measured ≈ 1 s of the CLI's start on the bench machine; cli.start.run_hello in bench/cli.bench.ts).

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

/** Builds the `isokernel` command; `io` receives everything it prints. */
export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('isokernel')
    .description('Run untrusted AI agents in isolated-vm sandboxes behind a capability-checked syscall boundary')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });

  program
    .command('run')
    .description('run an agent module and print its result as JSON')
    .argument('[file]', 'agent module (export default async function main(input) { ... })')
    .option('--restore <id>', 'start the agent from a snapshot instead of a file')
    .option('--input <json>', 'input passed to main, as JSON')
    .option('--cpu-ms <n>', 'CPU time limit in ms', positiveNumber)
    .option('--wall-ms <n>', 'wall-clock limit in ms', positiveNumber)
    .option('--memory-mb <n>', 'heap limit in MB', positiveNumber)
    .option('--policy <file>', "policy YAML: its capabilities become the agent's root capabilities (default: none)")
    .option('--store <dir>', 'state that outlives the run: root key, counters, memory, snapshots', DEFAULT_STORE)
    .option('--audit <file>', 'audit log (JSONL); default <store>/audit.jsonl')
    .option(
      '--root <dir>',
      'directory the fs tools may act in; repeatable (default: the current directory)',
      collect,
      [],
    )
    .option('--program <name=file>', 'register a program agents may spawn by name; repeatable', collect, [])
    .option(
      '--isolation <tier>',
      "where agent code runs: 'process' (sandbox-host child processes, the default) or 'inline' (this process)",
      'process',
    )
    .action(async (file: string | undefined, options: RunOptions) => {
      setExit(await (await import('./run.js')).runCommand(file, options, io));
    });

  registerChat(program, io, setExit);
  registerMcp(program, io, setExit);

  const snapshot = program.command('snapshot').description('list and inspect signed snapshots');
  snapshot
    .command('ls')
    .description('list the snapshots in the store with their program and label')
    .option('--store <dir>', 'the store the snapshots were taken in', DEFAULT_STORE)
    .action(async (options: { store: string }) => {
      setExit(await (await import('./snapshot.js')).snapshotList(options.store, io));
    });
  snapshot
    .command('show')
    .description('verify a snapshot and print its content as JSON')
    .argument('<id>', 'snapshot id (64 hex digits)')
    .option('--store <dir>', 'the store the snapshot was taken in', DEFAULT_STORE)
    .action(async (id: string, options: { store: string }) => {
      setExit(await (await import('./snapshot.js')).snapshotShow(options.store, id, io));
    });

  program
    .command('rollback')
    .description("undo a recorded fs.write or fs.delete (its result's recordId), authorized by the policy")
    .argument('<recordId>', 'undo record id (u_ and 32 hex digits)')
    .option('--policy <file>', 'policy YAML: the host needs the capability the undo acts under')
    .option('--store <dir>', 'the store the record was made in', DEFAULT_STORE)
    .option('--audit <file>', 'audit log (JSONL); default <store>/audit.jsonl')
    .option('--root <dir>', 'fs roots, as for run; repeatable', collect, [])
    .option('--force', 'undo even if the file changed since the recorded call')
    .action(async (recordId: string, options: RollbackOptions) => {
      setExit(await (await import('./rollback.js')).rollbackCommand(recordId, options, io));
    });

  program
    .command('policy')
    .description('work with policy files')
    .command('check')
    .description('validate a policy file and print its rules, or its errors with file:line:col')
    .argument('<file>', 'policy YAML')
    .action(async (file: string) => {
      setExit((await import('./policy-check.js')).policyCheck(file, io));
    });

  const audit = program.command('audit').description('verify, read and export audit logs');
  audit
    .command('verify')
    .description('check every hash, chain link and signed checkpoint; report the seq where it breaks')
    .argument('<file>', 'audit log (JSONL)')
    .option('--key <key>', KEY_HELP, collect, [])
    .option('--store <dir>', STORE_HELP)
    .option('--require-anchored', 'fail when records follow the last signed checkpoint or were adopted unsigned')
    .action(async (file: string, options: { key: string[]; store?: string; requireAnchored?: boolean }) => {
      const keys = trustedKeys('verify', options.key, options.store, io);
      if (keys === undefined) return setExit(EXIT_USAGE);
      const { auditVerify } = await import('./audit.js');
      setExit(
        auditVerify(file, io, {
          ...(keys.length === 0 ? {} : { trustedKeys: keys }),
          ...(options.requireAnchored === true ? { requireAnchored: true } : {}),
        }),
      );
    });
  audit
    .command('show')
    .description('print audit records as a table')
    .argument('<file>', 'audit log (JSONL)')
    .option('--agent <id>', 'only records of this agent')
    .option('--status <status>', 'intent | ok | denied | error | killed')
    .option('--tail <n>', 'only the last n matching records', positiveNumber)
    .action(async (file: string, options: { agent?: string; status?: string; tail?: number }) => {
      const { auditShow } = await import('./audit.js');
      setExit(
        auditShow(
          file,
          {
            ...(options.agent === undefined ? {} : { agent: options.agent }),
            ...(options.status === undefined ? {} : { status: options.status as AuditShowStatus }),
            ...(options.tail === undefined ? {} : { tail: options.tail }),
          },
          io,
        ),
      );
    });
  audit
    .command('export')
    .description("write the log in another tool's line format")
    .argument('<file>', 'audit log (JSONL)')
    .requiredOption('--format <format>', 'agent-kernel (timestamp, action, target, status, error, duration_ms)')
    // The same pinning as verify: without a key, a log rewritten and re-signed with another key exports (with a
    // warning on stderr), red-team pass 132.
    .option('--key <key>', KEY_HELP, collect, [])
    .option('--store <dir>', STORE_HELP)
    .option('--require-anchored', 'fail when records follow the last signed checkpoint or were adopted unsigned')
    .action(
      async (file: string, options: { format: string; key: string[]; store?: string; requireAnchored?: boolean }) => {
        if (options.format !== 'agent-kernel') {
          io.err('isokernel audit export: --format must be agent-kernel');
          return setExit(EXIT_USAGE);
        }
        const keys = trustedKeys('export', options.key, options.store, io);
        if (keys === undefined) return setExit(EXIT_USAGE);
        const { auditExport } = await import('./audit.js');
        setExit(
          auditExport(
            file,
            {
              format: 'agent-kernel',
              ...(keys.length === 0 ? {} : { trustedKeys: keys }),
              ...(options.requireAnchored === true ? { requireAnchored: true } : {}),
            },
            io,
          ),
        );
      },
    );

  program
    .command('bench')
    .description('run the benchmark suites of a source checkout and print one table of figures (see bench/RESULTS.md)')
    .option('--json', 'print one JSON array of { suite, figure, p50_ns, p99_ns, floor_ns, ratio, target, met }')
    .option('--suite <names>', 'comma-separated suites or groups (kernel, peers); default: every kernel suite')
    .option('--quick', 'fewer iterations, the same figures (under a minute)')
    .option('--peers', 'also run the peer suites (bench/thirdparty; npm run bench:peers installs them)')
    .action(async (options: BenchOptions) => {
      setExit(await (await import('./bench.js')).benchCommand(options, io));
    });

  return program;
}

const KEY_HELP = 'trusted checkpoint key (hex or base64url); repeatable';
const STORE_HELP = "trust the root key of this store (isokernel run's --store)";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

// Keys as hex, whichever form they were given in; the store's root key when --store names one. `command` (verify,
// export) names the audit subcommand in errors.
function trustedKeys(
  command: 'verify' | 'export',
  given: readonly string[],
  store: string | undefined,
  io: Io,
): string[] | undefined {
  const keys: string[] = [];
  for (const key of given) {
    const hex = /^[0-9a-fA-F]{64}$/.test(key) ? key.toLowerCase() : hexOfBase64Url(key);
    if (hex === undefined) {
      io.err(`isokernel audit ${command}: --key ${key.slice(0, 20)} is not a 32-byte key in hex or base64url`);
      return undefined;
    }
    keys.push(hex);
  }
  if (store !== undefined) {
    const seedFile = join(store, 'root.key');
    if (!existsSync(seedFile)) {
      io.err(`isokernel audit ${command}: no root key in ${store}`);
      return undefined;
    }
    const seed = decodeBase64Url(readFileSync(seedFile, 'utf8').trim());
    if (seed === undefined || seed.length !== 32) {
      io.err(`isokernel audit ${command}: the root key in ${store} is malformed`);
      return undefined;
    }
    keys.push(Buffer.from(SigningKey.fromSeed(seed).publicKey).toString('hex'));
  }
  return keys;
}

function hexOfBase64Url(text: string): string | undefined {
  const bytes = decodeBase64Url(text);
  return bytes?.length === 32 ? Buffer.from(bytes).toString('hex') : undefined;
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    io.err(`isokernel: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_USAGE;
  }
  return code;
}
