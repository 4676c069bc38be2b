import { auditSyscall } from './audit.js';
import { capsSyscall } from './caps.js';
import { consoleSyscall } from './console.js';
import { declassifySyscall } from './declassify.js';
import { handoffSyscall } from './handoff.js';
import { joinSyscall } from './join.js';
import { killSyscall } from './kill.js';
import { labelSyscall } from './label.js';
import { logSyscall } from './log.js';
import { memDeleteSyscall, memGetSyscall, memListSyscall, memPutSyscall } from './mem.js';
import { randomSyscall } from './random.js';
import { readSyscall } from './read.js';
import { restoredSyscall, snapshotSyscall } from './snapshot.js';
import { spawnSyscall } from './spawn.js';
import type { Syscall } from './syscall.js';
import { toolSyscall } from './tool.js';
import { wakeSyscall } from './wake.js';

/**
 * Every syscall the guest can issue, by name (the internal ones are the guest globals' plumbing, not on
 * `sys`). A Map, so agent-chosen names cannot reach prototypes.
 */
export const SYSCALLS: ReadonlyMap<string, Syscall> = new Map<string, Syscall>(
  [
    toolSyscall,
    logSyscall,
    capsSyscall,
    readSyscall,
    labelSyscall,
    declassifySyscall,
    spawnSyscall,
    joinSyscall,
    killSyscall,
    handoffSyscall,
    snapshotSyscall,
    restoredSyscall,
    memGetSyscall,
    memPutSyscall,
    memListSyscall,
    memDeleteSyscall,
    auditSyscall,
    wakeSyscall,
    randomSyscall,
    consoleSyscall,
  ].map((syscall) => [syscall.name, syscall as Syscall]),
);
