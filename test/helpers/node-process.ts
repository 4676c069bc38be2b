import { spawn } from 'node:child_process';

/** How a child Node process ended and what it printed. */
export interface NodeRun {
  /** The exit code, or null when a signal ended it (after a timeout, SIGKILL). */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the process outlived `timeoutMs` and was killed. */
  readonly timedOut: boolean;
}

/** Node's arguments for running the TypeScript module text that follows them (the kernel's sources, via tsx). */
export const TSX_MODULE_ARGS: readonly string[] = [
  '--no-node-snapshot',
  '--import',
  'tsx',
  '--input-type=module',
  '-e',
];

/**
 * The one way the suites start a Node child process: `node ...args`, output collected as UTF-8, SIGKILLed
 * after `timeoutMs`. Asynchronous on purpose: a test's own HTTP server must keep answering while the child
 * runs, and a hung child is observed (timedOut), not suffered. `under`: a command that runs Node with its
 * arguments appended (`unshare …`), for a child in namespaces of its own.
 */
export function runNode(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; under?: readonly string[] } = {},
): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const [file, ...prefix] = options.under ?? [process.execPath];
    const command = options.under === undefined ? [] : [...prefix, process.execPath];
    const child = spawn(file ?? process.execPath, [...command, ...args], {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut });
    });
  });
}
