import type { ErrorCode, KernelErrorInfo } from '../core/errors.js';

/** What an agent used; reported with every run result. */
export interface Usage {
  /** CPU of the agent's isolate plus the kernel's time on its syscalls (see `kernel_ms`). */
  cpu_ms: number;
  /**
   * Of `cpu_ms`, the kernel's own time spent on the agent's syscalls and on decoding its result (set by the kernel,
   * not the launcher).
   */
  kernel_ms?: number;
  wall_ms: number;
  /**
   * The largest reading of the isolate's own heap (taken while it was idle: 0 for one busy from start to end); for an
   * end for memory_mb, the watchdog's estimate that ended it, which counts growth other agents may have caused.
   */
  heap_peak_mb: number;
  syscalls: number;
  /** Counted quotas of the agent and its descendants (tokens, dollars, tool calls, children spawned). */
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  tool_calls: number;
  children: number;
}

export type RunResult =
  | { readonly ok: true; readonly value: unknown; readonly usage: Usage; readonly label?: readonly string[] }
  | { readonly ok: false; readonly error: KernelErrorInfo; readonly usage: Usage; readonly label?: readonly string[] };

/** The levels of console output. */
export type LogLevel = 'log' | 'info' | 'warn' | 'error' | 'debug';

/**
 * Events the kernel emits for observers; the audit log (a later layer) records the same facts. An event's
 * `label` is the label of what it tells: which syscalls an agent makes, what they answer, when it spawns, crashes
 * or nears a limit are its choices and may spell anything it read (red-team pass 71 read a PIN from `syscall`
 * events, a bit per call), so a host that forwards events anywhere checks the label as a sink would.
 */
export type KernelEvent =
  | {
      type: 'syscall';
      agent: string;
      syscall: string;
      code: ErrorCode | null;
      refused: boolean;
      label: readonly string[];
    }
  | { type: 'exit'; agent: string; result: RunResult }
  /**
   * `level` is set for console output (`console.warn` → 'warn'); absent for `sys.log`. `label` is the agent's
   * label when it wrote the line: the text may spell anything it read, so a host that forwards logs anywhere
   * checks it as a sink would.
   */
  | { type: 'log'; agent: string; text: string; level?: LogLevel; label: readonly string[] }
  | { type: 'catastrophe'; agent: string; label: readonly string[] }
  | { type: 'spawn'; agent: string; parent: string | null; program: string; label: readonly string[] }
  | { type: 'warn'; agent: string; limit: string; used: number; max: number; label: readonly string[] };
