import { readdirSync, readFileSync } from 'node:fs';

/**
 * What the OS says about processes (Linux /proc), so tests check child processes without trusting the code
 * that started them.
 */

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces and parentheses), counted from field 3.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Pids of the live (not zombie) children of `ppid`. */
export function childPids(ppid: number = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields !== undefined && Number(fields[1]) === ppid && fields[0] !== 'Z') pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

/** Pids of the live children of `ppid` that run the sandbox host program (not a loader's helper process). */
export function sandboxHostPids(ppid: number = process.pid): number[] {
  return childPids(ppid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sandbox-host');
    } catch {
      return false;
    }
  });
}

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const fields = statFields(pid);
  return fields !== undefined && fields[0] !== 'Z';
}

/** CPU time `pid` used so far, user plus system, in ms (10 ms resolution); undefined once it is gone. */
export function cpuMs(pid: number): number | undefined {
  const fields = statFields(pid);
  if (fields === undefined) return undefined;
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resident memory of `pid` in MB; undefined once it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    return (Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096) / (1024 * 1024);
  } catch {
    return undefined;
  }
}
