import { expect } from 'vitest';
import type { RunResult } from '../../index.js';
import type { BatchOutcome } from './fork.js';

/** A normal agent that proves a kernel still serves: one tool call, answered. */
export const HEALTHY_AGENT = 'export default async function main() { return sys.tool("echo", "alive"); }';

/**
 * The agent ended with `code` (and a message matching `message`) and the text is bounded: the typed failure a
 * title promises.
 */
export function expectFailed(result: RunResult | undefined, code: string, message?: RegExp): void {
  expect(result, 'no result was reported').toBeDefined();
  expect(result?.ok, JSON.stringify(result)).toBe(false);
  if (result === undefined || result.ok) return;
  expect(result.error.code, result.error.message).toBe(code);
  if (message !== undefined) expect(result.error.message).toMatch(message);
}

/**
 * The process tier contained a hole run by `runBatchInChild([hole, HEALTHY_AGENT], …, 'process')`: the hole's
 * agent ended with `code` within `boundMs`, the sandbox host that ran it is gone (a host the kernel process
 * had before the run is not among its children after it), the kernel then ran a normal agent, closed, left
 * no child process, and exited by itself.
 */
export function expectContained(
  batch: BatchOutcome,
  expected: { code: string; message?: RegExp; boundMs: number },
): void {
  expectServedOn(batch, expected);
  const [hole] = batch.reports;
  const killed = (hole?.before ?? []).filter((pid) => !(hole?.after ?? []).includes(pid));
  expect(killed.length, `hosts before ${hole?.before} after ${hole?.after}`).toBeGreaterThan(0);
}

/**
 * An inline kernel contained an attack run by `runBatchInChild([attack, HEALTHY_AGENT], …, 'inline',
 * exitGraceMs)`, on a runtime where the hole it once opened is closed (helpers/runtime.ts): the agent ended
 * with `code` within `boundMs`, the same kernel then ran a normal agent, closed and its process exited by
 * itself within the grace (no thread left spinning), neither killed nor aborted.
 */
export function expectContainedInline(
  batch: BatchOutcome,
  expected: { code: string; message?: RegExp; boundMs: number },
): void {
  expect(batch.hungAfterClose, `the kernel closed but its process did not exit: ${batch.stderr.slice(-2000)}`).toBe(
    false,
  );
  expectServedOn(batch, expected);
}

function expectServedOn(batch: BatchOutcome, expected: { code: string; message?: RegExp; boundMs: number }): void {
  const detail = batch.stderr.slice(-2000);
  expect(batch.timedOut, `the kernel process hung: ${detail}`).toBe(false);
  expect(batch.signal, detail).toBeNull();
  expect(batch.exitCode, detail).toBe(0);
  const [hole, healthy] = batch.reports;
  expectFailed(hole?.result, expected.code, expected.message);
  expect(hole?.ms).toBeLessThan(expected.boundMs);
  expect(healthy?.result).toMatchObject({ ok: true, value: 'alive' });
  expect(batch.left).toEqual([]);
}

/**
 * The body of an `it.fails` pin for a hole still open inline: throws (so the pin passes) only when every
 * symptom the hole is known by was observed. A run that shows anything else (the hole closed, or a harness
 * that broke) does not throw, so the pin fails and someone looks.
 */
export function pinHole(name: string, symptoms: Record<string, boolean>): void {
  const missing = Object.entries(symptoms)
    .filter(([, seen]) => !seen)
    .map(([symptom]) => symptom);
  if (missing.length === 0) throw new Error(`${name} is open: ${Object.keys(symptoms).join(', ')}`);
  // Not thrown (the pin must fail only for its own reason); printed so a run that lost the symptom says which.
  console.error(`pinHole ${name}: symptom not seen: ${missing.join('; ')}`);
}
