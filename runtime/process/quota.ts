import { KernelError } from '../core/errors.js';
import { EMPTY_LABEL, joinLabels, type Label, labelLeq } from '../labels/label.js';
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

/** What the kernel does when an agent's quota warns or is crossed. None may throw. */
export interface QuotaHooks {
  /**
   * The use crossed the warning threshold; `observed` is the label of what decided the amount and of the
   * descendants' use that moved the counter, as for `exceeded` (when the warning comes depends on them).
   */
  warn(field: CountedField | 'wall_ms', used: number, limit: number, observed: Label): void;
  /**
   * The limit was crossed: the kernel kills the owning agent with E_QUOTA, its label joined with `observed`,
   * the label of what decided the charge's amount (that the agent ended depends on it).
   */
  exceeded(field: CountedField | 'wall_ms', observed: Label): void;
  /**
   * A bounded counter of this agent moved by use that carries `label`: whether the agent runs on, and with it
   * every live descendant (its end ends them), depends on that use. The kernel raises all their labels by it.
   */
  raise?(label: Label): void;
}

/** A budget request an agent makes for a child: any subset of the limits. */
export type BudgetRequest = { readonly [K in LimitField]?: number | undefined };

/** The counted fields a budget request names: the child's own budget for them (see Quota). */
export function ownFields(request: BudgetRequest | undefined): CountedField[] {
  if (request === undefined) return [];
  return COUNTED_FIELDS.filter((field) => request[field] !== undefined);
}

/**
 * One agent's budget and use (docs/architecture.md §6). A child's quota is carved out of its parent's remainder,
 * in one of two ways per counted field, so a subtree can never spend more than its root was given:
 * - **shared** (the spawn leaves the field out; the child may use all its parent has left): each charge is added
 *   to the agent and to every ancestor up to one whose budget for the field is its own. A crossing ends the agent
 *   whose limit it is (an ancestor's ends the ancestor, and with it the subtree).
 * - **own** (the spawn names an amount): the amount is charged to the parent when the child starts, the child's
 *   use moves only its own counters, and what it left goes back to the parent only when the parent takes the
 *   child's label (a join by value): `refund`.
 *
 * Counters are data of what moved them, and so is every decision they make: what a remainder reveals when a
 * budget is carved or refused, and whether an agent runs on or is ended by a limit (its clean effects before
 * that end tell when it came; red-team pass 53 read a page, a character per child, from a clean agent's progress
 * counts before a kill a web-labelled grandchild's calls timed). So each quota keeps the join of the labels of
 * what moved it (`observed()`, for readers of the counters), and a bounded counter moved by labelled use raises
 * the owner and its live descendants (`hooks.raise`): an own budget is how a clean planner keeps a labelled
 * worker's use, and its label, out of its own counters. A charge's label is the charging agent's joined with
 * `observed`, the label of what decided the amount (a model's answer, read into a handle, decides its tokens).
 */
const RETIRED_HOOKS: QuotaHooks = Object.freeze({ warn: () => {}, exceeded: () => {} });

export class Quota {
  readonly limits: Limits;
  readonly parent: Quota | undefined;
  /** What the limits count: the agent's use, its shared descendants', and its own-budget children's budgets. */
  readonly used: QuotaUse = emptyUse();
  /** What the subtree actually used, whatever kind of budget: the host's report, never a decision. */
  readonly spent: QuotaUse = emptyUse();
  /** performance.now() when the agent started; wall time is measured from here. */
  readonly startedAt = performance.now();
  #hooks: QuotaHooks;
  readonly #warned = new Set<string>();
  #label: () => Label;
  /** Fields this agent has a budget of its own for (charged to its parent at its start): its use stops here. */
  readonly #own: ReadonlySet<CountedField>;
  /** The join of the labels of the uses and amounts that moved this quota's counters. */
  #movedBy: Label = EMPTY_LABEL;
  /** The join of the labels of every use `spent` counts, own-budget descendants' included. */
  #spentBy: Label = EMPTY_LABEL;
  /** The labels raised into this agent and its subtree by use of a bounded counter (see `hooks.raise`). */
  #raised: Label = EMPTY_LABEL;
  /** The last label a bounded counter here was moved with: the same label again has nothing left to raise. */
  #lastMoved: Label | undefined;
  #refunded = false;

  /**
   * `label` gives the owning agent's current label (what its charges carry); `own` the fields of its budget that
   * are its own (`ownFields` of its spawn's request), which the caller charges to the parent with `prepay`.
   */
  constructor(
    limits: Limits,
    parent: Quota | undefined,
    hooks: QuotaHooks,
    label: () => Label = () => EMPTY_LABEL,
    own: Iterable<CountedField> = [],
  ) {
    this.limits = limits;
    this.parent = parent;
    this.#hooks = hooks;
    this.#label = label;
    this.#own = new Set(own);
  }

  /**
   * Called when the owning agent ends. The quota still counts what its descendants report and is kept for its
   * parent's refund, but it lets go of its hooks and label reader, which hold the ended agent's session: through
   * them every ended child stayed whole in the kernel, uncharged, until its parent ended (red-team pass 137). Its
   * label is the one it ended with; crossing a limit now has nobody left to end.
   */
  retire(): void {
    const label = this.#label();
    this.#label = () => label;
    this.#hooks = RETIRED_HOOKS;
  }

  /**
   * The labels of what moved this quota's counters or an ancestor's (reading what remains of a budget, or being
   * refused a child budget or a spawn, reveals them). Never throws.
   */
  observed(): Label {
    let label = EMPTY_LABEL;
    for (let quota: Quota | undefined = this; quota !== undefined; quota = quota.parent) {
      label = joinLabels(label, quota.#movedBy);
    }
    return label;
  }

  /**
   * Adds `amount` of `field` to this quota and to every ancestor its budget for the field is shared with. Throws
   * KernelError E_BAD_ARG for an amount that is not a finite non-negative number (before anything is added, so NaN
   * cannot poison a counter), and E_QUOTA when this agent's own limit or an ancestor's is crossed (after
   * `exceeded` has been called). `observed` is the label of what decided `amount` (a model's answer for its
   * tokens): every counter it moves carries it, and bounded ones raise their owners by it (red-team pass 52: a
   * clean agent asked a model for as many words as a character's code and read the count back from a refused
   * child budget, a byte per call).
   */
  charge(field: CountedField, amount: unknown, observed: Label = EMPTY_LABEL): void {
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) {
      throw new KernelError('E_BAD_ARG', `charge of ${field} must be a finite non-negative number`);
    }
    // A zero that a labelled value decided still labels (a raise only when a handle's character is non-zero
    // spelled the zero bits, red-team pass 59).
    if (amount === 0 && observed.length === 0) return;
    const own = this.#label();
    const carried = observed.length === 0 ? own : joinLabels(own, observed);
    for (let quota: Quota | undefined = this; quota !== undefined; quota = quota.parent) {
      quota.spent[field] += amount;
      if (carried !== quota.#spentBy && carried.length > 0) quota.#spentBy = joinLabels(quota.#spentBy, carried);
    }
    if (this.#add(field, amount, observed, carried)) throw new KernelError('E_QUOTA', `quota exceeded: ${field}`);
  }

  // Adds to this quota and up the shared budgets; true when a limit was crossed. `carried` is the use's label.
  #add(field: CountedField, amount: number, observed: Label, carried: Label): boolean {
    let crossed = false;
    for (
      let quota: Quota | undefined = this;
      quota !== undefined;
      quota = quota.#stopsAt(field) ? undefined : quota.parent
    ) {
      // What decided the amount labels every counter it moves; the agent's own label, only its ancestors' (a
      // quota's own reader already holds it).
      if (observed.length > 0) quota.#movedBy = joinLabels(quota.#movedBy, observed);
      if (quota !== this && carried.length > 0) quota.#movedBy = joinLabels(quota.#movedBy, carried);
      if (carried.length > 0 && carried !== quota.#lastMoved) quota.#moved(field, carried);
      quota.used[field] += amount;
      if (amount > 0 && quota.#check(field, quota.used[field], observed)) crossed = true;
    }
    return crossed;
  }

  // A counter of this quota moved by use labelled `carried`: if a limit bounds it, the owner's continuing (and
  // its subtree's) depends on that use.
  #moved(field: CountedField, carried: Label): void {
    if (!Number.isFinite(this.limits[field])) return;
    this.#lastMoved = carried;
    if (labelLeq(carried, this.#raised)) return;
    this.#raised = joinLabels(this.#raised, carried);
    this.#hooks.raise?.(this.#raised);
  }

  /**
   * Charges one spawn to this quota and the ancestors its `children` budget is shared with, refusing it (E_QUOTA,
   * nothing charged) when any of them would exceed its `children` limit or this agent has no `depth` left.
   */
  chargeSpawn(): void {
    if (this.limits.depth < 1) throw new KernelError('E_QUOTA', 'quota exceeded: depth');
    for (
      let quota: Quota | undefined = this;
      quota !== undefined;
      quota = quota.#stopsAt('children') ? undefined : quota.parent
    ) {
      if (quota.used.children + 1 > quota.limits.children) throw new KernelError('E_QUOTA', 'quota exceeded: children');
    }
    this.charge('children', 1);
  }

  // Whether this agent's use of `field` stops here: its budget for it is its own, until it was refunded (the
  // parent took its label), after which late charges (a tool call that outlived it) reach the parent again.
  #stopsAt(field: CountedField): boolean {
    return this.#own.has(field) && !this.#refunded;
  }

  /**
   * Charges `child`'s own budgets (the fields its spawn named) to this quota, the parent's own decision, when the
   * child starts. A crossing it causes above this agent ends that ancestor, as any charge does.
   */
  prepay(child: Quota): void {
    const own = this.#label();
    for (const field of child.#own) {
      const amount = child.limits[field];
      if (Number.isFinite(amount) && amount > 0) this.#add(field, amount, EMPTY_LABEL, own);
    }
  }

  /**
   * Gives back what `child` left of its own budgets, once: only when this agent takes the child's label (a join
   * by value), since the amount is the child's data. The counters it may move raise their owners by the child's
   * label and what decided its amounts whether anything was left or not: a raise only when something was left
   * told a clean ancestor on the shared chain whether the child used its whole budget (red-team pass 59).
   * Charges that reach the child later go on to this agent (`#stopsAt`).
   */
  refund(child: Quota): void {
    if (child.#refunded || child.parent !== this) return;
    child.#refunded = true;
    const carried = joinLabels(child.#label(), child.#movedBy);
    for (const field of child.#own) {
      const left = child.limits[field] - child.used[field];
      if (Number.isFinite(left)) this.#add(field, -Math.max(0, left), carried, carried);
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
      this.#hooks.warn('wall_ms', elapsed, limit, EMPTY_LABEL);
    }
  }

  /**
   * The labels of the uses `usage` counts: the agent's own charges and every descendant's, own budgets included.
   * A host report of `usage` carries them (red-team pass 108 read a PIN from a clean planner's run result, whose
   * tool calls counted a `secret` worker's on a budget of its own). Never throws.
   */
  spentLabel(): Label {
    return this.#spentBy;
  }

  /**
   * The use counted here may depend on data labelled `label` that the agent did not read: the kernel's time on a
   * handle's value (substituting it, scrubbing, sizing it) is charged to its `cpu_ms`. Joins `label` into the
   * report label of this quota and every ancestor (whose `spent` counts that time too), and into nothing else: it
   * neither raises nor labels the counters an agent reads (its own clock tells it as much, SECURITY.md). Red-team
   * pass 114 read a PIN from a clean agent's `kernel_ms` and `cpu_ms` after 20 echoes of a handle.
   */
  spentOn(label: Label): void {
    if (label.length === 0) return;
    for (let quota: Quota | undefined = this; quota !== undefined; quota = quota.parent) {
      if (!labelLeq(label, quota.#spentBy)) quota.#spentBy = joinLabels(quota.#spentBy, label);
    }
  }

  /** Use so far, own and descendants', with the wall time elapsed. */
  usage(): QuotaUse & { wall_ms: number } {
    return { ...this.spent, wall_ms: Math.round(performance.now() - this.startedAt) };
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
      this.#hooks.warn(field, used, limit, joinLabels(observed, this.#movedBy));
    }
    return false;
  }
}

function emptyUse(): QuotaUse {
  return { cpu_ms: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0, tool_calls: 0, syscalls: 0, children: 0 };
}
