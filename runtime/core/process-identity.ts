import { readFileSync, readlinkSync } from 'node:fs';

/**
 * What /proc says about processes, to tell whether one a record names (an audit lock's writer, the owner of untracked
 * work) still runs: pids name processes of one pid namespace and one boot only, and a pid is reused, so a record
 * keeps the process's start time, the boot id and the pid namespace beside its pid. Each is null where /proc does
 * not tell (not Linux).
 */

/** Whether a process with this pid exists (EPERM: it does, another user's). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat), or null when unknown. */
export function startTimeOf(pid: number | 'self'): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself: count from the last.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = fields[22 - 3];
  return start !== undefined && /^[0-9]{1,20}$/.test(start) ? start : null;
}

let bootId: string | null | undefined;

/** This boot's id (/proc/sys/kernel/random/boot_id), or null. */
export function currentBootId(): string | null {
  if (bootId === undefined) {
    try {
      const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      bootId = /^[0-9a-f-]{1,64}$/.test(id) ? id : null;
    } catch {
      bootId = null;
    }
  }
  return bootId;
}

let pidNamespace: string | null | undefined;

/** This process's pid namespace: the inode number /proc/self/ns/pid links to (`pid:[4026531836]`), or null. */
export function currentPidNamespace(): string | null {
  if (pidNamespace === undefined) {
    try {
      pidNamespace = /^pid:\[([0-9]{1,20})\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? null;
    } catch {
      pidNamespace = null;
    }
  }
  return pidNamespace;
}

/** What a record keeps about the process that wrote it. */
export interface ProcessRecord {
  readonly pid: number;
  readonly start: string | null;
  readonly ns: string | null;
  readonly boot: string | null;
}

/**
 * Whether a record's pid names a process here: it was written in this pid namespace and boot, or on a platform
 * with neither (not Linux), where pids are the system's. Otherwise only a lease can tell (`leaseHolds`).
 */
export function samePidSpace(record: ProcessRecord): boolean {
  const ns = currentPidNamespace();
  const boot = currentBootId();
  return (
    (record.ns !== null && record.ns === ns && record.boot !== null && record.boot === boot) ||
    (process.platform !== 'linux' && record.ns === null && ns === null && record.boot === null && boot === null)
  );
}

/**
 * Whether the process a record of this pid space names still runs: not when the record names this process (a
 * crashed one whose pid this process has, as a container's kernel restarted as pid 1 again), nor when its pid
 * is not running, nor when the process with its pid started at another time (the pid was reused). A running pid
 * whose start time the record or /proc does not tell counts as running.
 */
export function recordedProcessRuns(record: Pick<ProcessRecord, 'pid' | 'start'>): boolean {
  if (record.pid === process.pid || !isRunning(record.pid)) return false;
  if (record.start === null) return true;
  const start = startTimeOf(record.pid);
  return start === null || start === record.start;
}

/** Whether a lease renewed at `renewedMs` still holds. A renewal from the future beyond the lease was not made by
 * a clock like this one: it does not hold for ever. */
export function leaseHolds(renewedMs: number, leaseMs: number): boolean {
  return Math.abs(Date.now() - renewedMs) < leaseMs;
}
