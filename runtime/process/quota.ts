import { KernelError } from '../core/errors.js';
import { EMPTY_LABEL, joinLabels, type Label } from '../labels/label.js';
import { type LimitField, type Limits, limitBounds } from './limits.js';

/** The quotas that accumulate: every use is charged to the agent and to each of its ancestors. */
export const COUNTED_FIELDS = [
  'cpu_ms',
  'tokens_in',
  'tokens_out',
  'cost_usd',
  'tool_calls',
  'syscalls',
  'children',
] as const;
export type CountedField = (typeof COUNTED_FIELDS)[number];

export type QuotaUse = Record<CountedField, number>;

/** What the kernel does when an agent's quota warns or is crossed. Both must not throw. */
export interface QuotaHooks {
  warn(field: CountedField | 'wall_ms', used: number, limit: number): void;
  /**
   * The limit was crossed: the kernel kills the owning agent with E_QUOTA, its label joined with `observed`,
   * the label of what decided the charge's amount (that the agent ended depends on it).
   */
  exceeded(field: CountedField | 'wall_ms', observed: Label): void;
}

/** A budget request an agent makes for a child: any subset of the limits. */
export type BudgetRequest = { readonly [K in LimitField]?: number | undefined };

/**
 * One agent's budget and use (docs/architecture.md §6). A child's quota is carved out of its parent's remainder and every
 * charge is added to the agent and all its ancestors, so a subtree can never spend more than its root was
 * given. Crossing `warn_at` of a limit warns once per field; crossing a limit calls `exceeded` on the quota
 * whose limit it is (an ancestor's crossing ends the ancestor, and with it the subtree).
 *
 * An ancestor's counters are data of the descendants that moved them: what remains of a budget reveals how
 * much a child spent, and a child may be labelled where its parent is not. Each quota keeps the join of the
 * labels of the descendants that charged it (`label()` of the charging agent, at the time of the charge), and
 * of what decided a charged amount (`charge`'s `observed`: a model's answer, read into a handle, decides the
 * tokens it costs); `observed()` is what reading this quota's counters reveals, for the kernel to join into the
 * reader's label.
 */
export class Quota {
  readonly limits: Limits;
  readonly parent: Quota | undefined;
  readonly used: QuotaUse = {
    cpu_ms: 0,
    tokens_in: 0,
    tokens_out: 0,
    cost_usd: 0,
    tool_calls: 0,
    syscalls: 0,
    children: 0,
  };
  /** performance.now() when the agent started; wall time is measured from here. */
  readonly startedAt = performance.now();
  readonly #hooks: QuotaHooks;
  readonly #warned = new Set<string>();
  readonly #label: () => Label;
  /** The join of the labels of the descendants whose use was charged here, and of what decided amounts. */
  #movedBy: Label = EMPTY_LABEL;
  /** The last label of this agent's joined into its ancestors'. */
  #marked: Label | undefined;

  /** `label` gives the owning agent's current label (what its charges carry to its ancestors). */
  constructor(limits: Limits, parent: Quota | undefined, hooks: QuotaHooks, label: () => Label = () => EMPTY_LABEL) {
    this.limits = limits;
    this.parent = parent;
    this.#hooks = hooks;
    this.#label = label;
  }

  /**
   * The labels of the descendants whose use moved this quota's counters or an ancestor's (reading what
   * remains of a budget, or being refused a child budget or a spawn, reveals them). Never throws.
   */
  observed(): Label {
    let label = EMPTY_LABEL;
    for (let quota: Quota | undefined = this; quota !== undefined; quota = quota.parent) {
      label = joinLabels(label, quota.#movedBy);
    }
    return label;
  }

  // An ancestor's counters now depend on this agent: they carry its label. Labels are frozen and keep their
  // identity until they rise, so the hot path (the same label as last time) is one comparison.
  #marking(): void {
    const label = this.#label();
    if (label.length === 0 || label === this.#marked) return;
    this.#marked = label;
    for (let quota = this.parent; quota !== undefined; quota = quota.parent) {
      quota.#movedBy = joinLabels(quota.#movedBy, label);
    }
  }

  /**
   * Adds `amount` of `field` to this quota and every ancestor. Throws KernelError E_BAD_ARG for an amount
   * that is not a finite non-negative number (before anything is added, so NaN cannot poison a counter),
   * and E_QUOTA when this agent's own limit or an ancestor's is crossed (after `exceeded` has been called).
   * `observed` is the label of what decided `amount` (a model's answer for its tokens): every counter it moves,
   * this agent's own included, carries it from then on. Before, only a crossing did, and a clean agent that
   * kept a page in a handle asked a model for as many words as a character's code and read the count back from
   * a refused child budget: a byte per call (red-team pass 52).
   */
  charge(field: CountedField, amount: unknown, observed: Label = EMPTY_LABEL): void {
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) {
      throw new KernelError('E_BAD_ARG', `charge of ${field} must be a finite non-negative number`);
    }
    if (amount === 0) return;
    this.#marking();
    let crossed = false;
    for (let quota: Quota | undefined = this; quota !== undefined; quota = quota.parent) {
      if (observed.length > 0) quota.#movedBy = joinLabels(quota.#movedBy, observed);
      quota.used[field] += amount;
      if (quota.#check(field, quota.used[field], observed)) crossed = true;
    }
    if (crossed) throw new KernelError('E_QUOTA', `quota exceeded: ${field}`);
  }

  /**
   * Charges one spawn to this quota and its ancestors, refusing it (E_QUOTA, nothing charged) when any of
   * them would exceed its `children` limit or this agent has no `depth` left.
   */
  chargeSpawn(): void {
    if (this.limits.depth < 1) throw new KernelError('E_QUOTA', 'quota exceeded: depth');
    for (let quota: Quota | undefined = this; quota !== undefined; quota = quota.parent) {
      if (quota.used.children + 1 > quota.limits.children) throw new KernelError('E_QUOTA', 'quota exceeded: children');
    }
    this.#marking();
    for (let quota: Quota | undefined = this; quota !== undefined; quota = quota.parent) {
      quota.used.children += 1;
      quota.#check('children', quota.used.children, EMPTY_LABEL);
    }
  }

  /** What is left of a limit: counted fields net of use (own and descendants'), wall time net of elapsed. */
  remaining(field: LimitField): number {
    if (field === 'wall_ms') return Math.max(0, this.limits.wall_ms - (performance.now() - this.startedAt));
    if (field === 'depth') return Math.max(0, this.limits.depth - 1);
    if ((COUNTED_FIELDS as readonly string[]).includes(field)) {
      return Math.max(0, this.limits[field] - this.used[field as CountedField]);
    }
    return this.limits[field];
  }

  /**
   * The limits of a child: each requested field must fit in this agent's remainder (E_QUOTA naming the
   * field otherwise); an absent field gets the whole remainder. Memory is a per-isolate cap, so a child
   * gets at most its parent's. Throws KernelError E_BAD_ARG for a malformed request.
   */
  carve(request: BudgetRequest | undefined): Limits {
    const out: Record<string, number> = {};
    for (const field of Object.keys(this.limits) as LimitField[]) {
      const available = field === 'children' ? Math.max(0, this.remaining('children') - 1) : this.remaining(field);
      const asked = request?.[field];
      if (asked === undefined) {
        out[field] = field === 'wall_ms' ? Math.max(1, Math.floor(available)) : available;
        continue;
      }
      const [min, max] = limitBounds(field);
      if (typeof asked !== 'number' || !Number.isFinite(asked) || asked < min || asked > max) {
        throw new KernelError('E_BAD_ARG', `budget.${field} must be a number between ${min} and ${max}`);
      }
      if (field !== 'warn_at' && asked > available) {
        throw new KernelError('E_QUOTA', `budget.${field} exceeds what remains of the parent's (${available})`);
      }
      out[field] = asked;
    }
    return Object.freeze(out as unknown as Limits);
  }

  /**
   * Checks the wall clock of this agent against its warn threshold only. The limit itself is the sandbox's
   * watchdog's (with the launcher's deadline as a backstop), which counts from when the agent's isolate
   * exists: this clock starts at spawn, so in the process tier it includes waiting for a sandbox host to
   * start, which is the kernel's time, not the agent's (ending agents by it failed fresh runs under load).
   */
  checkWall(): void {
    const elapsed = performance.now() - this.startedAt;
    const limit = this.limits.wall_ms;
    if (!Number.isFinite(limit) || elapsed > limit) return;
    if (elapsed >= limit * this.limits.warn_at && !this.#warned.has('wall_ms')) {
      this.#warned.add('wall_ms');
      this.#hooks.warn('wall_ms', elapsed, limit);
    }
  }

  /** Use so far, own and descendants', with the wall time elapsed. */
  usage(): QuotaUse & { wall_ms: number } {
    return { ...this.used, wall_ms: Math.round(performance.now() - this.startedAt) };
  }

  // True when the limit is crossed. Hooks run at most once per field for warnings.
  #check(field: CountedField | 'wall_ms', used: number, observed: Label): boolean {
    const limit = this.limits[field];
    if (!Number.isFinite(limit)) return false;
    if (used > limit) {
      // The crossing depends on every use counted here: the descendants' that moved this counter too (a labelled
      // child's syscalls ending its clean parent, or leaving a clean agent's own next charge over the limit).
      this.#hooks.exceeded(field, joinLabels(observed, this.#movedBy));
      return true;
    }
    if (used >= limit * this.limits.warn_at && !this.#warned.has(field)) {
      this.#warned.add(field);
      this.#hooks.warn(field, used, limit);
    }
    return false;
  }
}
