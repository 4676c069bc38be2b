import type { Constraints } from '../core/constraint-match.js';
import type { MountRequest } from '../store/namespace-memory.js';
import type { BudgetRequest } from './quota.js';
import type { RunResult } from './run-result.js';

/**
 * A capability a parent hands a child (spawn) or a receiver (handoff): an attenuation of one the parent
 * holds, delegated so every use debits the parent's chain. `from` names the parent's capability; without it
 * the kernel picks the first held capability the request fits in.
 */
export interface CapRequest {
  readonly from?: string | undefined;
  readonly action?: string | undefined;
  readonly resource?: string | undefined;
  readonly constraint?: Constraints | undefined;
  readonly max_uses?: number | undefined;
  /** Lifetime from now, in ms; never later than the parent's expiry. */
  readonly expires_in_ms?: number | undefined;
}

/** `sys.spawn(...)` after schema validation. Exactly one of `program` and `code`. */
export interface ChildRequest {
  readonly program?: string | undefined;
  readonly code?: string | undefined;
  readonly input?: unknown | undefined;
  readonly caps?: readonly CapRequest[] | undefined;
  readonly budget?: BudgetRequest | undefined;
  /** A name under the parent's namespace; default a fresh one per child. */
  readonly namespace?: string | undefined;
  readonly mounts?: readonly MountRequest[] | undefined;
}

/** What a child's result looks like to its parent: the result and the label it carries. */
export interface ChildOutcome {
  readonly result: RunResult;
  readonly label: readonly string[];
  /**
   * Raises the parent by the child's label (a join by value) and gives the parent back what the child left of
   * its own budgets, whose amount is the child's data (quota.ts `refund`).
   */
  takeLabel(): void;
}
