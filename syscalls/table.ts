import { capsSyscall } from './caps.js';
import { declassifySyscall } from './declassify.js';
import { labelSyscall } from './label.js';
import { logSyscall } from './log.js';
import { readSyscall } from './read.js';
import type { Syscall } from './syscall.js';
import { toolSyscall } from './tool.js';

/** Every syscall the guest can issue, by name. A Map, so agent-chosen names cannot reach prototypes. */
export const SYSCALLS: ReadonlyMap<string, Syscall> = new Map<string, Syscall>(
  [toolSyscall, logSyscall, capsSyscall, readSyscall, labelSyscall, declassifySyscall].map((syscall) => [
    syscall.name,
    syscall as Syscall,
  ]),
);
