/**
 * `isokernel policy check <file>`: validates a policy file and prints its capability rules as a table, or
 * its errors as file:line:col lines.
 */
import { formatDuration, formatIssue, loadPolicy, PolicyError, type PolicyRule } from '../runtime/policy/policy.js';
import { BUILTIN_POLICY_SECTIONS } from '../tools/policy-sections.js';

export interface PolicyCheckIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const COLUMNS = ['action', 'resource', 'constraint', 'max_uses', 'expires_in'] as const;

/**
 * Checks `file`. Returns exit code 0 (valid: the rules table on `io.out`) or 1 (invalid: one line per
 * problem on `io.err`). Never throws for anything about the file; throws TypeError when `file` is not a string.
 */
export function policyCheck(file: string, io: PolicyCheckIo): number {
  if (typeof file !== 'string') throw new TypeError('file must be a string');
  let rules: readonly PolicyRule[];
  try {
    rules = loadPolicy(file, BUILTIN_POLICY_SECTIONS).capabilities;
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    for (const issue of error.issues) io.err(formatIssue(issue));
    return 1;
  }
  const rows = rules.map((rule) => [
    rule.action,
    rule.resource,
    formatConstraint(rule.constraint),
    rule.maxUses === undefined ? '-' : String(rule.maxUses),
    rule.expiresInMs === undefined ? '-' : formatDuration(rule.expiresInMs),
  ]);
  const widths = COLUMNS.map((name, i) => Math.max(name.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  io.out(line(COLUMNS));
  io.out(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) io.out(line(row));
  io.out(`${rules.length} capabilit${rules.length === 1 ? 'y' : 'ies'} in ${file}`);
  return 0;
}

function formatConstraint(constraint: PolicyRule['constraint']): string {
  const entries = Object.entries(constraint);
  if (entries.length === 0) return '-';
  return entries.map(([name, value]) => `${name}=${Array.isArray(value) ? value.join('|') : String(value)}`).join(',');
}
