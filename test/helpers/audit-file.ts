import { readFileSync } from 'node:fs';
import { type AuditRecord, parseRecordLine } from '../../runtime/audit/record.js';

/** Every record of a JSONL audit file, parsed and checked; throws on a malformed line. */
export function readAuditRecords(file: string): AuditRecord[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const parsed = parseRecordLine(line);
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.record;
    });
}
