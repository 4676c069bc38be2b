// The sizes the compromised host of forging-host.ts uses, shared with the suites that check what the kernel
// made of them (that fixture opens fd 3 when loaded, so suites cannot import it).

/** reply hoarding: the value stored once, then asked for HOARD_CALLS times without reading the replies. */
export const HOARD_VALUE_CHARS = 256 * 1024;
export const HOARD_CALLS = 400;
/** late syscall flood: syscalls sent in the name of an agent after its result. */
export const LATE_FLOOD_CALLS = 25_000;
/** replayed ready: growth steps, each followed by another `ready`. */
export const READY_STEPS = 5;
export const READY_STEP_MB = 96;
