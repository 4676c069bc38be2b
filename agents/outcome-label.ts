/**
 * How a host hands `withOutcome` an attempt's output together with its label: `labelled(run.text, run.label)`.
 *
 * withOutcome moves outputs and feedback between the host's functions (the attempt loop, the judge loop, the
 * next attempt); those values left the kernel, where labels follow data by themselves, so withOutcome has to
 * carry them (red-team pass 66: the judge loop started clean and mailed the PIN the attempt loop had read).
 * The output is the host's own type `T`, which may well have a `label` field of its own, so the label travels
 * in a wrapper only this function makes instead of being read off the value's shape.
 */
import { EMPTY_LABEL, type Label, makeLabel } from '../runtime/labels/label.js';

/** An output and the label of the data that decided it (an AgentLoopResult's or RunResult's `label`). */
export interface Labelled<T> {
  readonly value: T;
  readonly label: Label;
}

// The wrappers `labelled` made: a value of the host's type that merely looks like one is not taken for one.
const made = new WeakSet<object>();

/**
 * Wraps `value` with `label`, for an attempt to return. Throws TypeError/RangeError for a malformed label (a
 * thrown attempt ends the outcome as failed).
 */
export function labelled<T>(value: T, label: readonly string[]): Labelled<T> {
  const wrapped: Labelled<T> = Object.freeze({ value, label: makeLabel(label, 'labelled: label') });
  made.add(wrapped);
  return wrapped;
}

/**
 * The value and label an attempt returned: a `labelled` wrapper's, or a bare value with the empty label (the
 * host's own data; withOutcome still joins in what the attempt was shown).
 */
export function unwrapLabelled<T>(returned: T | Labelled<T>): { value: T; label: Label } {
  if (typeof returned === 'object' && returned !== null && made.has(returned)) {
    const wrapped = returned as Labelled<T>;
    return { value: wrapped.value, label: wrapped.label };
  }
  return { value: returned as T, label: EMPTY_LABEL };
}
