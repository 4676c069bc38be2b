import { scanLines } from '../runtime/audit/lines.js';
import { type AuditRecord, MAX_RECORD_LINE_LENGTH, parseRecordLine } from '../runtime/audit/record.js';
import {
  type AuditVerifyReport,
  keyPolicy,
  readCheckpointFile,
  verifyAuditFile,
  verifyRecordLines,
} from '../runtime/audit/verify-file.js';
import { sanitizeForTerminal, terminalSafeJson } from './io.js';

/**
 * `isokernel audit verify | show | export`, as functions of (file, options, io) returning an exit code, so the
 * commander wiring stays trivial and the commands are testable without a process.
 *
 * Exit codes: 0 success, 1 the log is missing, unreadable or fails verification, 2 bad options.
 * Output: every `io.out` / `io.err` call is one complete line without its trailing newline (console.log-style).
 * Anything taken from the log file is printed with control and bidi characters escaped, because agent-chosen
 * strings (resource paths, ids) must not be able to drive the operator's terminal.
 */

export interface AuditIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export interface AuditVerifyCliOptions {
  /** Hex public keys whose checkpoints are trusted; without them the signer is reported but not pinned. */
  readonly trustedKeys?: readonly string[];
  /** Fail when records follow the last checkpoint. */
  readonly requireAnchored?: boolean;
}

export type AuditShowStatus = 'intent' | 'ok' | 'denied' | 'error' | 'killed';

export interface AuditShowOptions {
  /** Only records of this agent. */
  readonly agent?: string;
  /** Only intents ('intent') or outcomes with this status. */
  readonly status?: AuditShowStatus;
  /** Only the last n matching records. */
  readonly tail?: number;
}

export interface AuditExportOptions {
  readonly format: 'agent-kernel';
  /** Hex public keys the log's checkpoints must be signed by; without them the signer is reported but not pinned. */
  readonly trustedKeys?: readonly string[];
  /** Refuse a log with records after its last checkpoint or adopted unsigned at a resume, as verify does. */
  readonly requireAnchored?: boolean;
}

const SHOW_STATUSES: ReadonlySet<string> = new Set(['intent', 'ok', 'denied', 'error', 'killed']);

function checkIo(io: AuditIo): void {
  if (typeof io !== 'object' || io === null || typeof io.out !== 'function' || typeof io.err !== 'function') {
    throw new TypeError('io must have out and err functions');
  }
}

function checkFile(file: string): void {
  if (typeof file !== 'string' || file === '') throw new TypeError('file must be a non-empty string');
}

/**
 * Verifies `file` and its checkpoints (runtime/audit-verify.ts). Prints `OK` with counts and returns 0, plus a
 * warning on stderr for each weaker-than-full result (unpinned signer, unanchored records, torn tail, open
 * intents); or prints `FAIL at seq N: reason` on stderr and returns 1. Returns 2 on malformed trusted keys.
 * Throws TypeError when `file` or `io` is malformed.
 */
export function auditVerify(file: string, io: AuditIo, options: AuditVerifyCliOptions = {}): number {
  checkFile(file);
  checkIo(io);
  let report: ReturnType<typeof verifyAuditFile>;
  try {
    report = verifyAuditFile(file, {
      ...(options.trustedKeys !== undefined ? { trustedKeys: options.trustedKeys } : {}),
      ...(options.requireAnchored !== undefined ? { requireAnchored: options.requireAnchored } : {}),
    });
  } catch (error) {
    io.err(`audit verify: ${error instanceof Error ? error.message : 'bad options'}`);
    return 2;
  }
  if (!report.ok) {
    const where = report.seq === null ? '' : ` at seq ${report.seq}`;
    io.err(`FAIL${where}: ${sanitizeForTerminal(report.reason)}`);
    return 1;
  }
  io.out(
    `OK ${report.records} records, ${report.namespaces} namespaces, ${report.checkpoints} checkpoints ` +
      `(${report.anchored} anchored, ${report.unanchored} unanchored), root ${report.root}`,
  );
  warnAbout(report, io);
  if (report.openIntents > 0) io.err(`note: ${report.openIntents} intents have no outcome`);
  return 0;
}

/** What a verified log's report leaves to doubt, on stderr: verify and export say the same (review 135). */
function warnAbout(report: Extract<AuditVerifyReport, { ok: true }>, io: AuditIo): void {
  if (!report.pinned) io.err(unpinnedWarning(report.keys));
  if (report.unanchored > 0) {
    io.err(`warning: ${report.unanchored} records after the last checkpoint are not covered by a signature`);
  }
  if (report.adopted > 0) {
    io.err(
      `warning: ${report.adopted} records were never signed by the kernel that wrote them: a kernel adopted them ` +
        'when it resumed the log after its writer ended without closing it',
    );
  }
  if (report.tornBytes > 0) io.err(`warning: ignored a torn last line of ${report.tornBytes} bytes`);
}

/**
 * The warning for a log whose checkpoints verified under whatever key signed them: anyone who can rewrite the log
 * can re-sign it with a key of their own, and only a pinned key (--key, --store) tells that log from the kernel's.
 */
function unpinnedWarning(keys: readonly string[]): string {
  return `warning: checkpoint signer ${keys.join(', ')} is not pinned; pass the kernel public key to trust it`;
}

/** Reads every record of `file` strictly; reports the first bad line on io.err and returns false. */
function readRecords(file: string, io: AuditIo, onRecord: (record: AuditRecord) => void): boolean {
  let badLine: { index: number; reason: string } | undefined;
  let scan: ReturnType<typeof scanLines>;
  try {
    scan = scanLines(file, MAX_RECORD_LINE_LENGTH * 4, (line, index) => {
      const parsed = parseRecordLine(line);
      if (!parsed.ok) {
        badLine = { index, reason: parsed.reason };
        return false;
      }
      onRecord(parsed.record);
      return true;
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    io.err(code === 'ENOENT' ? 'audit log file is missing' : `audit log file cannot be read (${code ?? 'error'})`);
    return false;
  }
  const problem = badLine ?? scan.error;
  if (problem !== undefined) {
    io.err(`line ${problem.index + 1}: ${sanitizeForTerminal(problem.reason)}`);
    return false;
  }
  return true;
}

const COLUMNS = ['SEQ', 'TIME', 'AGENT', 'SYSCALL', 'ACTION', 'RESOURCE', 'STATUS', 'CODE', 'DURATION'] as const;
const MAX_CELL = 48;

function cell(text: string): string {
  const safe = sanitizeForTerminal(text);
  return safe.length > MAX_CELL ? `${safe.slice(0, MAX_CELL - 1)}…` : safe;
}

function row(record: AuditRecord): string[] {
  return [
    String(record.seq),
    new Date(record.time).toISOString(),
    cell(record.agent),
    cell(record.syscall),
    cell(record.action),
    record.resource === null ? '-' : cell(record.resource),
    record.status ?? 'intent',
    record.code ?? '-',
    record.duration_ms === null ? '-' : `${record.duration_ms}ms`,
  ];
}

/**
 * Prints the records of `file` as an aligned table (seq, ISO time, agent, syscall, action, resource, status,
 * code, duration), filtered by agent and status and limited to the last `tail`. Each line is parsed strictly
 * (hash included) but the chain and signatures are not checked: use `auditVerify` for integrity. Returns 0, 1
 * when the file is missing or a line is malformed (nothing is printed then), 2 on bad options. Throws TypeError
 * when `file` or `io` is malformed.
 */
export function auditShow(file: string, options: AuditShowOptions, io: AuditIo): number {
  checkFile(file);
  checkIo(io);
  const { agent, status, tail } = options ?? {};
  if (agent !== undefined && typeof agent !== 'string') {
    io.err('audit show: --agent must be a string');
    return 2;
  }
  if (status !== undefined && !SHOW_STATUSES.has(status)) {
    io.err('audit show: --status must be one of intent, ok, denied, error, killed');
    return 2;
  }
  if (tail !== undefined && (!Number.isSafeInteger(tail) || tail < 1)) {
    io.err('audit show: --tail must be a positive integer');
    return 2;
  }
  const rows: string[][] = [];
  const ok = readRecords(file, io, (record) => {
    if (agent !== undefined && record.agent !== agent) return;
    if (status !== undefined && (record.status ?? 'intent') !== status) return;
    rows.push(row(record));
    // Keep memory bounded by the tail, not by the log.
    if (tail !== undefined && rows.length > tail * 2) rows.splice(0, rows.length - tail);
  });
  if (!ok) return 1;
  const shown = tail === undefined ? rows : rows.slice(-tail);
  const widths = COLUMNS.map((name, i) => Math.max(name.length, ...shown.map((cells) => cells[i]!.length)));
  const format = (cells: readonly string[]): string =>
    cells
      .map((text, i) => (i === 0 ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  io.out(format(COLUMNS));
  for (const cells of shown) io.out(format(cells));
  return 0;
}

/**
 * Reads the audit log at `file` and its checkpoints (`${file}.checkpoints`) once each and verifies exactly the lines
 * read, with verifyAuditFile's rules (a torn last line is ignored). The records are then taken from those same
 * lines, never from a second open of the path: a file renamed over the log between verifying and reading would
 * otherwise be read unverified (red-team pass 132). Holds the record lines in memory. Throws TypeError/RangeError
 * on malformed `trustedKeys` only, before reading anything.
 */
function readVerifiedLines(
  file: string,
  trustedKeys: readonly string[] | undefined,
  requireAnchored: boolean,
): { readonly report: AuditVerifyReport; readonly lines: readonly string[] } {
  keyPolicy(trustedKeys);
  const readFailure = (error: unknown, what: string): AuditVerifyReport => {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const reason = code === 'ENOENT' ? `${what} is missing` : `${what} cannot be read (${code ?? 'error'})`;
    return { ok: false, seq: null, reason };
  };
  const lines: string[] = [];
  let scan: ReturnType<typeof scanLines>;
  try {
    scan = scanLines(file, MAX_RECORD_LINE_LENGTH * 4, (line) => {
      lines.push(line);
      return true;
    });
  } catch (error) {
    return { report: readFailure(error, 'audit log file'), lines: [] };
  }
  let stored: ReturnType<typeof readCheckpointFile>['checked'];
  try {
    stored = readCheckpointFile(`${file}.checkpoints`, keyPolicy(trustedKeys)).checked;
  } catch (error) {
    return { report: readFailure(error, 'checkpoint file'), lines: [] };
  }
  if (!stored.ok) return { report: stored, lines: [] };
  const report = verifyRecordLines(lines, stored.checkpoints, {
    ...(trustedKeys === undefined ? {} : { trustedKeys }),
    requireAnchored,
  });
  // A line the scan could not read (too long, not UTF-8) is the failure unless an earlier one was found, as in
  // verifyAuditFile (the lines after it were not read, so a failure at or past it is only their absence).
  if (scan.error !== undefined && (report.ok || report.seq === null || report.seq >= scan.error.index)) {
    const { index, reason } = scan.error;
    return { report: { ok: false, seq: index, reason: `record ${index}: ${reason}` }, lines: [] };
  }
  return { report: report.ok ? { ...report, tornBytes: scan.tornBytes } : report, lines: report.ok ? lines : [] };
}

const AGENT_KERNEL_STATUS = { ok: 'OK', denied: 'DENIED', error: 'ERROR', killed: 'ERROR' } as const;

/**
 * Exports `file` for agent_os_kernel: one JSON line per outcome record,
 * `{ timestamp (ISO), action, target, status: 'OK' | 'DENIED' | 'ERROR', error, duration_ms }`, where target
 * is the resource ('' when none), error the error code (null when ok), and a 'killed' outcome maps to 'ERROR'.
 * The log is read once and verified (against `trustedKeys` when given; without them, under the one key that signed
 * it, with the same warnings on stderr as `auditVerify`: a log rewritten and re-signed with another key verifies so;
 * records adopted unsigned or unanchored are said too, and refused with `requireAnchored`), and the lines exported are
 * exactly the lines verified. Nothing is printed on stdout unless the log verifies;
 * exit 1 when it does not. Returns 2 on an unknown format or malformed keys. Throws TypeError when `file` or `io`
 * is malformed.
 */
export function auditExport(file: string, options: AuditExportOptions, io: AuditIo): number {
  checkFile(file);
  checkIo(io);
  if (options?.format !== 'agent-kernel') {
    io.err("audit export: --format must be 'agent-kernel'");
    return 2;
  }
  let read: ReturnType<typeof readVerifiedLines>;
  try {
    read = readVerifiedLines(file, options.trustedKeys, options.requireAnchored === true);
  } catch (error) {
    io.err(`audit export: ${error instanceof Error ? error.message : 'bad options'}`);
    return 2;
  }
  const { report, lines } = read;
  if (!report.ok) {
    const where = report.seq === null ? '' : ` at seq ${report.seq}`;
    io.err(`audit export: the log does not verify${where}: ${sanitizeForTerminal(report.reason)}`);
    return 1;
  }
  warnAbout(report, io);
  for (let index = 0; index < lines.length; index += 1) {
    const parsed = parseRecordLine(lines[index]!);
    // Verified just above; a line that no longer parses would be a bug, and nothing is exported past it.
    if (!parsed.ok) {
      io.err(`audit export: line ${index + 1}: ${sanitizeForTerminal(parsed.reason)}`);
      return 1;
    }
    const record = parsed.record;
    if (record.phase !== 'outcome' || record.status === null) continue;
    // A resource is agent-chosen text (a memory key may hold C1, bidi and line-separator characters): escaped, the
    // line is the same JSON and cannot drive the terminal (red-team pass 55).
    io.out(
      terminalSafeJson(
        {
          timestamp: new Date(record.time).toISOString(),
          action: record.action,
          target: record.resource ?? '',
          status: AGENT_KERNEL_STATUS[record.status],
          error: record.code,
          duration_ms: record.duration_ms,
        },
        false,
      ),
    );
  }
  return 0;
}
