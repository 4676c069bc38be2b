import type { ErrorCode } from '../core/errors.js';
import type { RunResult } from './run-result.js';
import type { AgentSession } from './session.js';

/**
 * The contract between the kernel and whatever runs agent code. The kernel (runtime/) never imports
 * isolated-vm; the package entry wires in isolates/launcher.ts, which implements this.
 */
export interface LaunchRequest {
  readonly session: AgentSession;
  readonly code: string;
  /** A display name for stack traces inside the guest; never a host path. */
  readonly filename: string;
  /** The agent's input as JSON text. */
  readonly inputJson: string;
}

export interface AgentProcess {
  /** Resolves once with the agent's outcome; never rejects. */
  readonly result: Promise<RunResult>;
  /** Ends the agent with E_KILLED; a no-op once it has ended. */
  kill(reason: string): void;
  /** Ends the agent with `code` (E_QUOTA when a budget is crossed); a no-op once it has ended. */
  terminate(code: ErrorCode, message: string): void;
}

export interface AgentLauncher {
  launch(request: LaunchRequest): AgentProcess;
  /** Isolates started and not yet disposed (a leak check for the process tree). */
  liveIsolates(): number;
  /** Stops background work (the watchdog); running agents must be killed first. */
  close(): void;
}
