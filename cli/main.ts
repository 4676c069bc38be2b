import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { EXIT_USAGE, type Io, processIo } from './io.js';
import { policyCheck } from './policy-check.js';
import { type RunOptions, runCommand } from './run.js';

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
    .argument('<file>', 'agent module (export default async function main(input) { ... })')
    .option('--input <json>', 'input passed to main, as JSON')
    .option('--cpu-ms <n>', 'CPU time limit in ms', positiveNumber)
    .option('--wall-ms <n>', 'wall-clock limit in ms', positiveNumber)
    .option('--memory-mb <n>', 'heap limit in MB', positiveNumber)
    .option('--policy <file>', "policy YAML: its capabilities become the agent's root capabilities (default: none)")
    .option('--store <dir>', 'state that outlives the run: root key, revocations, counters', '.isokernel')
    .action(async (file: string, options: RunOptions) => {
      setExit(await runCommand(file, options, io));
    });

  program
    .command('policy')
    .description('work with policy files')
    .command('check')
    .description('validate a policy file and print its rules, or its errors with file:line:col')
    .argument('<file>', 'policy YAML')
    .action((file: string) => {
      setExit(policyCheck(file, io));
    });

  return program;
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
