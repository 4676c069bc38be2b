import { closeSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * Closes every file and directory descriptor the sandbox host inherited from the kernel. Node opens its own
 * with close-on-exec, but native libraries in the kernel need not: LevelDB (the kernel's key-value store)
 * leaves its write-ahead log, manifest and lock open across exec, so a host started after the store opened
 * held writable descriptors into the kernel's memory, label and undo records, one isolate escape away.
 * Only descriptors that name a path are closed: what Node itself set up before this runs (epoll, eventfds,
 * pipes, the channel socket on fd 3) names none. Linux only (/proc); elsewhere nothing is closed. Returns how
 * many were closed.
 */
export function closeInheritedFiles(): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return 0;
  }
  let closed = 0;
  for (const entry of entries) {
    const fd = Number(entry);
    if (!Number.isInteger(fd) || fd <= 3) continue;
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${entry}`);
    } catch {
      continue;
    }
    if (!target.startsWith('/')) continue;
    try {
      closeSync(fd);
      closed++;
    } catch {
      // Already gone (the listing's own directory descriptor).
    }
  }
  return closed;
}
