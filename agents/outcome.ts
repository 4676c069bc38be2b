/**
 * Rubric-graded outcomes (the @kernel.chat/agent-os `withOutcome` idea): attempt → evaluate against weighted
 * criteria → revise with the evaluator's feedback, until the work is good enough, fails, is aborted or runs
 * out of iterations. Every iteration is recorded in the result, and in the kernel's audit log when a kernel is
 * given (as host records `outcome.iteration` and `outcome.end`, arguments by digest like every record).
 *
 * The attempt and the evaluator are the host's functions: typically `kernel.runAgentLoop` for the work and a
 * second loop (or plain code) as the judge, so both run as agents under the policy.
 *
 * Labels. Outputs, scores and feedback pass through host code here, outside the kernel, where labels do not
 * follow data by themselves; so withOutcome carries them (red-team pass 66: a judge loop given a secret answer as
 * its prompt started clean and mailed it). An attempt returns `labelled(output, run.label)` (a bare value counts
 * as the host's own data, with the empty label). Whatever a function computes may spell what it was shown, so:
 * the evaluator is given `label`, the join of the output's label and everything the attempt was shown; its
 * scores and feedback carry that joined with the `label` it returns; the next attempt is given the join of all
 * of it as `label`, since it sees the feedback and `previous`. Each function passes the `label` it is given to
 * the loop it starts (`runAgentLoop({ label })`), so that loop begins where its input stands. Each iteration,
 * the result and the audit records carry the labels of what decided them.
 */
import { Attempt } from '../runtime/audit/attempt.js';
import { isErrorCode, KernelError, observedBy } from '../runtime/core/errors.js';
import { type Kernel, kernelInternals } from '../runtime/kernel.js';
import { EMPTY_LABEL, joinLabels, joinTags, type Label, TOP_LABEL } from '../runtime/labels/label.js';
import { HOST_SUBJECT } from '../runtime/tool-use/host-actions.js';
import { type Labelled, unwrapLabelled } from './outcome-label.js';

/** One weighted criterion. */
export interface Criterion {
  /** A short identifier the evaluator scores by (`correct`, `cites_sources`). */
  readonly name: string;
  readonly description?: string;
  /** A finite positive weight; scores are averaged by weight. */
  readonly weight: number;
  /** A floor in [0, 1] this criterion must reach whatever the total (a must-have). */
  readonly min?: number;
}

export interface Rubric {
  readonly name?: string;
  readonly criteria: readonly Criterion[];
  /** The weighted score in [0, 1] that counts as satisfied. */
  readonly threshold: number;
}

/** What an evaluator says about one output: a score in [0, 1] per criterion, and feedback for the next try. */
export interface Evaluation {
  readonly scores: Readonly<Record<string, number>>;
  readonly feedback?: string;
  /**
   * The label of what decided the scores and feedback (a judge loop's `label`); withOutcome joins in the label
   * the evaluator was given either way. A malformed label fails the iteration like a bad score.
   */
  readonly label?: readonly string[];
}

export interface OutcomeIteration<T> {
  readonly iteration: number;
  /** The attempt's output (undefined when the attempt failed). */
  readonly output: T | undefined;
  readonly scores: Readonly<Record<string, number>>;
  /** The weighted score in [0, 1] (0 when the iteration failed). */
  readonly score: number;
  readonly feedback: string;
  readonly satisfied: boolean;
  /** Why the iteration failed: the thrown KernelError's code, or E_AGENT_FAILED / E_BAD_ARG (bad scores). */
  readonly error?: { readonly code: string; readonly message: string };
  /**
   * The join of the labels of what decided this iteration: what the attempt was shown, its output, and the
   * evaluation (or the error). Its output, scores, feedback and error may spell any of it.
   */
  readonly label: readonly string[];
}

export type OutcomeStatus = 'satisfied' | 'failed' | 'aborted' | 'exhausted';

export interface OutcomeResult<T> {
  readonly status: OutcomeStatus;
  /** The best-scoring output (the satisfying one when satisfied); undefined when no attempt produced one. */
  readonly output: T | undefined;
  readonly score: number;
  readonly iterations: readonly OutcomeIteration<T>[];
  /**
   * The join of every iteration's label: the output was chosen by all the scores, so it carries what decided
   * any of them.
   */
  readonly label: readonly string[];
  /** The seq range of this outcome's audit records, when a kernel was given. */
  readonly audit?: { readonly from: number; readonly to: number };
}

export interface OutcomeOptions<T> {
  readonly rubric: Rubric;
  /**
   * Produces an output; from the second iteration on, `feedback` says what to improve. `label` is the label of
   * `feedback` and `previous` (empty on the first iteration): pass it to the loop that reads them. Return
   * `labelled(output, run.label)` for an output that carries a label; a bare output is joined with `label`.
   */
  attempt(context: {
    readonly iteration: number;
    readonly feedback: string | null;
    readonly previous: OutcomeIteration<T> | null;
    readonly signal: AbortSignal;
    readonly label: readonly string[];
  }): Promise<T | Labelled<T>> | T | Labelled<T>;
  /**
   * Scores an output against the rubric. `label` is the output's label (with what its attempt was shown): pass
   * it to the loop that reads the output, and return that loop's label in the Evaluation.
   */
  evaluator(
    output: NoInfer<T>,
    context: {
      readonly iteration: number;
      readonly rubric: Rubric;
      readonly signal: AbortSignal;
      readonly label: readonly string[];
    },
  ): Promise<Evaluation> | Evaluation;
  /** Attempts at most (default 3). */
  readonly maxIterations?: number;
  readonly signal?: AbortSignal;
  /** Audit every iteration in this kernel's log. */
  readonly kernel?: Kernel;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const MAX_ITERATIONS = 100;

/**
 * Runs attempts until one satisfies the rubric, one fails, the signal aborts, or `maxIterations` run out.
 * Never rejects for what the attempt or evaluator do (a throw ends with status `failed`, recorded). Throws
 * TypeError/RangeError before anything runs for an invalid rubric (a weight that is not a finite positive
 * number, a threshold or floor outside [0, 1], no criteria, duplicate or malformed names) or options.
 */
export async function withOutcome<T>(options: OutcomeOptions<T>): Promise<OutcomeResult<T>> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const rubric = checkRubric(options.rubric);
  if (typeof options.attempt !== 'function') throw new TypeError('options.attempt must be a function');
  if (typeof options.evaluator !== 'function') throw new TypeError('options.evaluator must be a function');
  const maxIterations = options.maxIterations ?? 3;
  if (!Number.isInteger(maxIterations) || maxIterations < 1 || maxIterations > MAX_ITERATIONS) {
    throw new RangeError(`options.maxIterations must be an integer between 1 and ${MAX_ITERATIONS}`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError('options.signal must be an AbortSignal');
  }
  const signal = options.signal ?? new AbortController().signal;
  const kernel = options.kernel;
  const from = kernel?.audit.size;
  const iterations: OutcomeIteration<T>[] = [];
  const finish = (status: OutcomeStatus): OutcomeResult<T> => {
    const label = iterations.reduce<Label>((joined, it) => joinLabels(joined, it.label), EMPTY_LABEL);
    record(kernel, 'outcome.end', rubric.name ?? 'outcome', { status, iterations: iterations.length }, null, label);
    const best = iterations
      .filter((it) => it.error === undefined)
      .reduce<OutcomeIteration<T> | undefined>(
        (top, it) => (top === undefined || it.score > top.score ? it : top),
        undefined,
      );
    const chosen = status === 'satisfied' ? iterations.at(-1) : best;
    return {
      status,
      output: chosen?.output,
      score: chosen?.score ?? 0,
      iterations,
      label,
      ...(kernel === undefined || from === undefined ? {} : { audit: { from, to: kernel.audit.size - 1 } }),
    };
  };

  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    if (signal.aborted) return finish('aborted');
    const previous = iterations.at(-1) ?? null;
    // The attempt is shown the previous iteration (its output, scores and feedback), whose label is already
    // the join of every iteration before it.
    const shown = previous?.label ?? EMPTY_LABEL;
    // What the code running so far this iteration has been shown: the label of anything it throws or returns.
    let known: Label = shown;
    let output: T;
    let evaluation: Evaluation;
    try {
      const returned = await untilAborted(
        Promise.resolve().then(() =>
          options.attempt({ iteration, feedback: previous?.feedback || null, previous, signal, label: shown }),
        ),
        signal,
      );
      const attempted = unwrapLabelled(returned);
      output = attempted.value;
      known = joinLabels(shown, attempted.label);
      const outputLabel = known;
      evaluation = await untilAborted(
        Promise.resolve().then(() => options.evaluator(output!, { iteration, rubric, signal, label: outputLabel })),
        signal,
      );
    } catch (error) {
      if (signal.aborted) return finish('aborted');
      const failed = failure(error);
      const entry: OutcomeIteration<T> = {
        iteration,
        output: undefined,
        scores: {},
        score: 0,
        feedback: '',
        satisfied: false,
        error: failed,
        label: failureLabel(error, known),
      };
      iterations.push(entry);
      record(kernel, 'outcome.iteration', rubric.name ?? 'outcome', summary(entry), failed.code, entry.label);
      return finish('failed');
    }
    const judged = evaluationLabel(evaluation);
    // A malformed evaluation label is refused with a message that quotes it, and it was the judge's to make: the top.
    const label = 'error' in judged ? TOP_LABEL : joinLabels(known, judged.label);
    const scored = 'error' in judged ? judged : score(rubric, evaluation);
    if ('error' in scored) {
      const entry: OutcomeIteration<T> = {
        iteration,
        output,
        scores: {},
        score: 0,
        feedback: '',
        satisfied: false,
        error: scored.error,
        label,
      };
      iterations.push(entry);
      record(kernel, 'outcome.iteration', rubric.name ?? 'outcome', summary(entry), 'E_BAD_ARG', label);
      return finish('failed');
    }
    const entry: OutcomeIteration<T> = { iteration, output, ...scored, label };
    iterations.push(entry);
    record(kernel, 'outcome.iteration', rubric.name ?? 'outcome', summary(entry), null, label);
    if (entry.satisfied) return finish('satisfied');
  }
  return finish('exhausted');
}

function checkRubric(rubric: Rubric): Rubric {
  if (rubric === null || typeof rubric !== 'object') throw new TypeError('options.rubric must be an object');
  if (rubric.name !== undefined && (typeof rubric.name !== 'string' || !NAME.test(rubric.name))) {
    throw new TypeError('options.rubric.name must be an identifier');
  }
  const unit = (value: unknown): value is number =>
    typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1;
  if (!unit(rubric.threshold)) throw new RangeError('options.rubric.threshold must be a number in [0, 1]');
  if (!Array.isArray(rubric.criteria) || rubric.criteria.length === 0 || rubric.criteria.length > 64) {
    throw new TypeError('options.rubric.criteria must list 1 to 64 criteria');
  }
  const names = new Set<string>();
  rubric.criteria.forEach((criterion, index) => {
    const where = `options.rubric.criteria[${index}]`;
    if (criterion === null || typeof criterion !== 'object') throw new TypeError(`${where} must be an object`);
    if (typeof criterion.name !== 'string' || !NAME.test(criterion.name))
      throw new TypeError(`${where}.name must be an identifier`);
    if (names.has(criterion.name)) throw new TypeError(`${where}.name "${criterion.name}" is repeated`);
    names.add(criterion.name);
    const weight = criterion.weight;
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > 1e6) {
      throw new RangeError(`${where}.weight must be a finite number greater than 0`);
    }
    if (criterion.min !== undefined && !unit(criterion.min))
      throw new RangeError(`${where}.min must be a number in [0, 1]`);
  });
  return rubric;
}

/**
 * The label an evaluation brings beyond what its evaluator was given (empty when it names none), or why it is
 * unusable. An evaluation that is not an object is left for `score` to refuse.
 */
function evaluationLabel(evaluation: Evaluation): { label: Label } | { error: { code: string; message: string } } {
  try {
    const label = (evaluation as { label?: unknown } | null)?.label;
    // Past 64 tags, a label is the top, as any join is.
    return { label: label === undefined ? EMPTY_LABEL : joinTags(label, 'evaluation.label') };
  } catch (error) {
    const message = error instanceof Error ? error.message : 'evaluation.label is unreadable';
    return { error: { code: 'E_BAD_ARG', message: `evaluator: ${message}` } };
  }
}

/**
 * The label of a throw from the attempt or the evaluator. The kernel's own errors have fixed texts: they carry
 * what the code was shown, and what a refusal observed. Anything else may quote what the function's own loops
 * read, which withOutcome never saw (red-team pass 67: a judge's `JSON.parse` of its answer put the PIN it read
 * in the error's text, labelled with nothing), so it is the top.
 */
function failureLabel(error: unknown, known: Label): Label {
  return error instanceof KernelError ? joinLabels(known, observedBy(error)) : TOP_LABEL;
}

/** The weighted score of an evaluation, or why the evaluation is unusable. */
function score(
  rubric: Rubric,
  evaluation: Evaluation,
):
  | { scores: Record<string, number>; score: number; feedback: string; satisfied: boolean }
  | { error: { code: string; message: string } } {
  const bad = (message: string) => ({ error: { code: 'E_BAD_ARG', message: `evaluator: ${message}` } });
  if (
    evaluation === null ||
    typeof evaluation !== 'object' ||
    evaluation.scores === null ||
    typeof evaluation.scores !== 'object'
  ) {
    return bad('must return { scores, feedback? }');
  }
  const scores: Record<string, number> = {};
  let total = 0;
  let weights = 0;
  let floorsMet = true;
  for (const criterion of rubric.criteria) {
    const value = Object.hasOwn(evaluation.scores, criterion.name) ? evaluation.scores[criterion.name] : undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
      return bad(`the score of "${criterion.name}" must be a number in [0, 1]`);
    }
    scores[criterion.name] = value;
    total += value * criterion.weight;
    weights += criterion.weight;
    if (criterion.min !== undefined && value < criterion.min) floorsMet = false;
  }
  const weighted = Math.round((total / weights) * 1e9) / 1e9;
  const feedback = typeof evaluation.feedback === 'string' ? evaluation.feedback.slice(0, 20_000) : '';
  return { scores, score: weighted, feedback, satisfied: floorsMet && weighted >= rubric.threshold };
}

function summary(entry: OutcomeIteration<unknown>): Record<string, unknown> {
  return {
    iteration: entry.iteration,
    score: entry.score,
    scores: entry.scores,
    satisfied: entry.satisfied,
    error: entry.error?.code ?? null,
  };
}

function record(
  kernel: Kernel | undefined,
  action: string,
  resource: string,
  args: unknown,
  code: string | null,
  label: Label,
): void {
  if (kernel === undefined) return;
  // withOutcome is the kernel's own driver: it appends host records, which host code cannot (kernel.audit is
  // read-only).
  const attempt = new Attempt(kernelInternals(kernel).audit, HOST_SUBJECT, 'outcome', args);
  // The record's scores and status were decided by data of `label`: an agent that reads the record takes it.
  // The resource is the rubric's name, the host's vocabulary, so it is kept as written.
  attempt.describe(action, resource, args, label, false);
  attempt.end(code === null ? null : isErrorCode(code) ? code : 'E_AGENT_FAILED');
}

function failure(error: unknown): { code: string; message: string } {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return { code: isErrorCode(code) ? code : 'E_AGENT_FAILED', message: message.slice(0, 1000) };
}

/** `promise`, or a rejection as soon as `signal` aborts (an attempt that ignores the signal is not awaited). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
