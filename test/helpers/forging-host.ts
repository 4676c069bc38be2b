import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Kernel, KernelOptions } from '../../index.js';
import type { ProcessLauncher, ProcessLauncherOptions } from '../../isolates/process-launcher.js';
import type { AuditRecord } from '../../runtime/audit/record.js';
import { readAuditRecords } from './audit-file.js';
import { processTestKernel } from './kernel.js';

const FIXTURE = fileURLToPath(new URL('../escape/forging-host.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * A process-tier kernel whose sandbox hosts are the compromised host of test/escape/forging-host.ts: each
 * agent's "code" names the forgery its host sends instead of running it.
 */
export function forgingHostKernel(
  options: KernelOptions = {},
  pool: Partial<ProcessLauncherOptions> = {},
): { kernel: Kernel; launcher: ProcessLauncher } {
  return processTestKernel(options, {
    entry: { execArgv: ['--import', TSX], script: FIXTURE },
    killGraceMs: 50,
    ...pool,
  });
}

/** The `sandbox.violation` outcome records of an audit file. */
export function violationRecords(auditFile: string): AuditRecord[] {
  return readAuditRecords(auditFile).filter(
    (record) => record.action === 'sandbox.violation' && record.phase === 'outcome',
  );
}
