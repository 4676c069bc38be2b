/**
 * `isokernel policy check <file>`: validates a policy file and prints its capability rules as a table, or
 * its errors as file:line:col lines; then the programs its proc.exec rules can run and where each resolves.
 */
import {
  formatDuration,
  formatIssue,
  loadPolicy,
  type Policy,
  PolicyError,
  type PolicyRule,
} from '../runtime/policy/policy.js';
import { BUILTIN_POLICY_SECTIONS } from '../tools/policy-sections.js';
import { procPolicySection } from '../tools/proc.js';
import { programWarning, resolvePrograms } from '../tools/proc-programs.js';
import { sandboxSupport } from '../tools/proc-sandbox.js';

export interface PolicyCheckIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const COLUMNS = ['action', 'resource', 'constraint', 'max_uses', 'expires_in'] as const;
const PROGRAM_COLUMNS = ['program', 'runs', 'from'] as const;

/**
 * Checks `file`. Returns exit code 0 (valid: the rules table on `io.out`, then the programs table when the
 * policy names any, and a warning on `io.err` for each program it grants that resolves nowhere) or 1
 * (invalid: one line per problem on `io.err`). Programs are looked up on `searchPath` (default: the host's
 * PATH), as `isokernel run` would. Never throws for anything about the file; throws TypeError when `file` is
 * not a string.
 */
export function policyCheck(file: string, io: PolicyCheckIo, searchPath: string = process.env.PATH ?? ''): number {
  if (typeof file !== 'string') throw new TypeError('file must be a string');
  let policy: Policy;
  try {
    policy = loadPolicy(file, BUILTIN_POLICY_SECTIONS);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    for (const issue of error.issues) io.err(formatIssue(issue));
    return 1;
  }
  const rules = policy.capabilities;
  const rows = rules.map((rule) => [
    rule.action,
    rule.resource,
    formatConstraint(rule.constraint),
    rule.maxUses === undefined ? '-' : String(rule.maxUses),
    rule.expiresInMs === undefined ? '-' : formatDuration(rule.expiresInMs),
  ]);
  printTable(io, COLUMNS, rows);
  io.out(`${rules.length} capabilit${rules.length === 1 ? 'y' : 'ies'} in ${file}`);
  const programs = resolvePrograms(policy, procPolicySection.read(policy)?.programs ?? {}, searchPath);
  if (programs.length > 0) {
    io.out('');
    printTable(
      io,
      PROGRAM_COLUMNS,
      programs.map((found) => [
        found.name,
        found.path === undefined
          ? '-'
          : found.real !== undefined && found.real !== found.path
            ? `${found.path} -> ${found.real}`
            : found.path,
        found.origin === 'config' ? 'tools.proc.programs' : found.origin === 'path' ? 'PATH' : 'not found (E_NO_TOOL)',
      ]),
    );
    io.out(sandboxLine(procPolicySection.read(policy)?.sandbox ?? 'auto'));
    for (const found of programs) {
      if (found.origin === 'missing') io.err(`warning: ${programWarning(found)}`);
      if (found.origin === 'config' && found.real === undefined) {
        io.err(
          `warning: tools.proc.programs.${found.name}.path is not an executable file: isokernel run will refuse to start`,
        );
      }
    }
  }
  return 0;
}

/** How these programs would run on this host (tools/proc-sandbox.ts). */
function sandboxLine(mode: 'auto' | 'required' | 'off'): string {
  if (mode === 'off') return 'programs run unconfined (tools.proc.sandbox: off)';
  const support = sandboxSupport();
  if (support.available) return `programs run confined: Landlock ABI ${support.abi} (tools.proc.sandbox: ${mode})`;
  return mode === 'required'
    ? `isokernel run will refuse to start: tools.proc.sandbox is required but ${support.reason}`
    : `programs run unconfined: ${support.reason} (tools.proc.sandbox: auto)`;
}

function printTable(io: PolicyCheckIo, columns: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = columns.map((name, i) => Math.max(name.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  io.out(line(columns));
  io.out(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) io.out(line(row));
}

function formatConstraint(constraint: PolicyRule['constraint']): string {
  const entries = Object.entries(constraint);
  if (entries.length === 0) return '-';
  return entries.map(([name, value]) => `${name}=${Array.isArray(value) ? value.join('|') : String(value)}`).join(',');
}
