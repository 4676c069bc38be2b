/**
 * The stdio transport the MCP client tools use: the SDK's messages (`deserializeMessage`, `serializeMessage`) over a
 * child process the kernel starts and kills on its own terms. The SDK's `StdioClientTransport` is not used
 * because it merges a default environment (HOME, USER, SHELL, …) into every server's, runs the server in the
 * kernel's process group (a server's own children would outlive a kill), and passes stderr to the kernel's.
 *
 * Here: the environment is exactly what the caller built (scrubbed like proc's); the server leads its own
 * process group and `close` SIGKILLs the whole group; stderr goes to /dev/null; a message larger than
 * `maxMessageBytes`, one whose JSON nests deeper than 64 or holds more than 250,000 values (parsing such a shape
 * costs many times its bytes: red-team pass 68 held the kernel's loop 12.7 s with 64 MiB of empty arrays), more
 * than `maxWindowBytes` per call open received since none was, or more than MESSAGES_PER_CALL lines per call open, is
 * a flood: the transport reports an error and closes (the server is killed).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  deserializeMessage,
  type JSONRPCMessage,
  serializeMessage,
  type Transport,
} from '@modelcontextprotocol/client';
import { jsonShapeFits } from './json-shape.js';
import { LineReader } from './line-reader.js';

/** The JSON shape one message may have; past it, parsing costs far more than its bytes (see jsonShapeFits). */
const MESSAGE_SHAPE = { maxDepth: 64, maxNodes: 250_000 } as const;

export interface StdioLaunch {
  /** Absolute path of the program. */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly maxMessageBytes: number;
  /**
   * Bytes the server may send per call open (`openWindow`) before it counts as flooding: each call open adds this
   * much, and the count starts over once no call is open.
   */
  readonly maxWindowBytes: number;
  /**
   * Bytes written to the server and not yet read by it past which a new message is refused: default
   * MAX_UNREAD_BYTES.
   */
  readonly maxUnreadBytes?: number;
  /** How long the server may read nothing while past `maxUnreadBytes` before it counts as hung (killed). */
  readonly hungAfterMs: number;
}

/**
 * A server that stops reading its stdin leaves every later request in the kernel's heap: past this much unread, a
 * new message is refused, and the server counts as hung once it has read nothing for `hungAfterMs`. Before, agents
 * whose calls ended before the call timeout (children killed, a short wall_ms) piled 1 MB requests on a stalled
 * server at about 50 MB/s, charged to nobody (red-team pass 54); and killing the server at the bound let one
 * agent end another's call to an honest server busy for a second (pass 55). Sixteen calls in flight with 1 MiB
 * arguments each fit twice.
 */
export const MAX_UNREAD_BYTES = 32 * 1024 * 1024;

/**
 * Lines the server may send per call open, and while none is: its answers and whatever it sends of its own accord
 * (pings, log lines, progress, and lines the kernel skips). Each costs a parse, and a message the SDK's handling (a
 * request context, a ping a reply): a byte window alone let one call's 2 MiB hold 42,000 pings, sixteen calls
 * taking 22-36 s of kernel time and 2.5 GB, charged to nobody (red-team pass 149), or a million lines of `1`, which
 * are not JSON-RPC and were skipped uncounted, 9.5 s (review 152). The kernel declares no client capabilities and
 * asks for no progress, so an honest server sends few: its answer and a log line per step of a tool.
 */
export const MESSAGES_PER_CALL = 256;

/** Thrown (through `onerror`) when the server sends more than it may. */
export class McpFloodError extends Error {}

/** A send refused because the server has too much unread: the call fails, the server runs on. */
export class McpBusyError extends Error {
  override name = 'McpBusyError';
}

export class KernelStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly #launch: StdioLaunch;
  readonly #lines: LineReader;
  #child: ChildProcess | undefined;
  #closed = false;
  #window = 0;
  #open = 0;
  #allowance: number;
  // The lines the server sent since no call was open, and how many it may send.
  #sent = 0;
  #sendable = MESSAGES_PER_CALL;
  readonly #meter: <T>(work: () => T) => T;
  // The unread bytes when a send last found them within the bound or lower than before, and when: a server that
  // reads nothing past the bound for `hungAfterMs` is hung.
  #unread = { bytes: 0, at: 0 };
  readonly #waiting = new Set<{ resolve: () => void; reject: (error: Error) => void }>();
  #flooded = false;

  /** `meter` charges the kernel time of starting the server (a fork of the kernel's process) to whoever asked. */
  constructor(launch: StdioLaunch, meter: <T>(work: () => T) => T = (work) => work()) {
    this.#launch = launch;
    this.#meter = meter;
    this.#lines = new LineReader(launch.maxMessageBytes);
    this.#allowance = launch.maxWindowBytes;
  }

  /** Starts the server; resolves once the process is running, rejects if it cannot be started. */
  start(): Promise<void> {
    if (this.#child !== undefined) return Promise.reject(new Error('already started'));
    return new Promise((resolve, reject) => {
      // Metered: forking a kernel of a gigabyte or two holds its loop for tens of milliseconds, and a server that exits
      // after every answer is started again on every call (red-team pass 149; proc.exec's spawn is metered too).
      // stderr to /dev/null: read and dropped, a server that writes it without end kept the kernel reading at a core's
      // worth of time for as long as it ran (the same pass).
      const child = this.#meter(() =>
        spawn(this.#launch.command, [...this.#launch.args], {
          env: this.#launch.env,
          cwd: this.#launch.cwd,
          stdio: ['pipe', 'pipe', 'ignore'],
          detached: true,
          shell: false,
          windowsHide: true,
        }),
      );
      this.#child = child;
      child.once('error', (error) => {
        reject(error);
        this.#fail(error);
      });
      child.once('spawn', () => resolve());
      child.once('exit', () => this.#finish());
      child.stdin?.on('error', (error) => this.#fail(error));
      child.stdin?.on('drain', () => {
        for (const waiting of this.#waiting) waiting.resolve();
        this.#waiting.clear();
      });
      child.stdout?.on('error', (error) => this.#fail(error));
      child.stdout?.on('data', (chunk: Buffer) => this.#receive(chunk));
    });
  }

  /**
   * A call begins: the server may send `maxWindowBytes` more. The allowance is per call, not shared: one window reset
   * by every call let three concurrent 800 KB answers to one agent count as a flood and end another agent's call
   * (red-team pass 55).
   */
  openWindow(): void {
    this.#open += 1;
    this.#allowance += this.#launch.maxWindowBytes;
    this.#sendable += MESSAGES_PER_CALL;
  }

  /** A call has ended: once none is open, the count starts over. */
  closeWindow(): void {
    this.#open = Math.max(0, this.#open - 1);
    if (this.#open === 0) {
      this.#window = 0;
      this.#allowance = this.#launch.maxWindowBytes;
      this.#sent = 0;
      this.#sendable = MESSAGES_PER_CALL;
    }
  }

  /** True once the server sent more than it may (the transport then closed). */
  get flooded(): boolean {
    return this.#flooded;
  }

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.#child?.stdin;
    if (this.#closed || stdin === undefined || stdin === null || stdin.destroyed) {
      return Promise.reject(new Error('the server is not running'));
    }
    // What is still buffered is what the server has not read: one message may always go on top of a bound.
    const unread = stdin.writableLength;
    const now = performance.now();
    const bound = this.#launch.maxUnreadBytes ?? MAX_UNREAD_BYTES;
    // The stall clock runs only while past the bound, and restarts whenever the server has read some of it.
    if (unread <= bound || unread < this.#unread.bytes) this.#unread = { bytes: unread, at: now };
    if (unread > bound) {
      if (now - this.#unread.at >= this.#launch.hungAfterMs) {
        this.#fail(new Error('the server stopped reading its input'));
        return Promise.reject(new Error('the server is not running'));
      }
      return Promise.reject(new McpBusyError('the server is not reading its input fast enough'));
    }
    return new Promise((resolve, reject) => {
      const written = stdin.write(serializeMessage(message));
      // What is unread now, this message included: any fall below it is the server reading.
      this.#unread.bytes = stdin.writableLength;
      if (written) {
        resolve();
        return;
      }
      // A send waiting for the pipe settles when it drains or when the transport closes, whichever is first (one
      // drain listener for all of them: a listener each passed Node's listener limit).
      this.#waiting.add({ resolve, reject });
    });
  }

  /** Kills the server's whole process group and reports the close once. Idempotent. */
  async close(): Promise<void> {
    this.#kill();
    this.#finish();
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    this.#window += chunk.length;
    if (this.#window > this.#allowance) {
      this.#fail(new McpFloodError('the server sent more than its output cap'));
      return;
    }
    let lines: string[];
    try {
      lines = this.#lines.push(chunk);
    } catch {
      this.#fail(new McpFloodError('the server sent a message larger than the cap'));
      return;
    }
    for (const line of lines) {
      if (++this.#sent > this.#sendable) {
        this.#fail(new McpFloodError('the server sent more lines than it may'));
        return;
      }
      if (!jsonShapeFits(line, MESSAGE_SHAPE)) {
        this.#fail(new McpFloodError('the server sent a message nested too deep or holding too many values'));
        return;
      }
      let message: JSONRPCMessage;
      try {
        message = deserializeMessage(line);
      } catch (error) {
        // A line that is not JSON: skipped, as the SDK does; one that is not JSON-RPC: reported, skipped.
        if (!(error instanceof SyntaxError))
          this.onerror?.(error instanceof Error ? error : new Error('malformed message'));
        continue;
      }
      this.onmessage?.(message);
      if (this.#closed) break;
    }
  }

  #fail(error: Error): void {
    if (error instanceof McpFloodError) this.#flooded = true;
    this.onerror?.(error);
    this.#kill();
    this.#finish();
  }

  #kill(): void {
    const child = this.#child;
    if (child?.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      try {
        child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    }
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lines.clear();
    this.#kill();
    for (const waiting of this.#waiting) waiting.reject(new Error('the server is not running'));
    this.#waiting.clear();
    this.onclose?.();
  }
}
