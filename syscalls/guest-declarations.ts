import { GUEST_GLOBALS } from './guest-globals.js';
import { WEB_DECLARATIONS } from './guest-web-types.js';
import { SYSCALLS } from './table.js';

/**
 * The TypeScript declaration of what agent code sees: `sys`, generated from the syscall table (internal
 * syscalls left out, as the prelude leaves them off `sys`), and the web globals (syscalls/guest-globals.ts,
 * declared by guest-web-types.ts), so the declaration, the prelude (built from the same tables) and the
 * kernel cannot drift apart. The package ships the output as `isokernel/guest` (guest/sys.d.ts); `npm run
 * generate` rewrites it and a test fails when the committed file differs.
 */

const HEADER = `// Generated from the syscall table (syscalls/table.ts) and the guest globals (syscalls/guest-globals.ts)
// by \`npm run generate\`. Do not edit.
// What agent code sees inside an isokernel isolate: the frozen global \`sys\`, whose every call returns a
// promise that rejects with an Error whose \`code\` is one of the kernel's error codes, and the web globals
// below. Compile agent code against this file with \`"lib": ["ES2022"]\` and no DOM lib.

/** An opaque reference to a value the kernel keeps, with its own label. */
export interface Handle {
  readonly $handle: string;
}

/** A capability the agent holds (never token bytes). */
export interface CapabilityInfo {
  readonly id: string;
  readonly action: string;
  readonly resource: string;
  /** Fewest uses left on any link of the chain; null when unbounded. */
  readonly remainingUses: number | null;
  /** Earliest expiry of any link, ms since the epoch; null when none expires. */
  readonly expiresAt: number | null;
}

/** An attenuation of a capability the caller holds, for a child or a handoff receiver. */
export interface CapRequest {
  from?: string;
  action?: string;
  resource?: string;
  constraint?: Record<string, string | number | boolean>;
  max_uses?: number;
  expires_in_ms?: number;
}

/** A child agent: exactly one of \`program\` (registered by the host) and \`code\` (needs agent.spawn on inline). */
export interface SpawnRequest {
  program?: string;
  code?: string;
  input?: unknown;
  caps?: CapRequest[];
  budget?: Partial<Record<'cpu_ms' | 'wall_ms' | 'memory_mb' | 'tokens_in' | 'tokens_out' | 'cost_usd' | 'tool_calls' | 'children' | 'depth' | 'warn_at', number>>;
  namespace?: string;
  mounts?: { name: string; prefix?: string; mode: 'ro' | 'rw'; from?: string }[];
}

/** One audit record as \`sys.audit\` returns it. */
export interface AuditRecord {
  readonly seq: number;
  readonly kind: 'intent' | 'outcome';
  readonly agent: string;
  readonly syscall: string;
  readonly action: string;
  readonly resource: string | null;
  readonly [field: string]: unknown;
}
`;

/** The declaration file's text. Never throws. */
export function guestDeclarations(): string {
  const top: string[] = [];
  const groups = new Map<string, string[]>();
  for (const { name, guest } of SYSCALLS.values()) {
    if (guest.internal === true) continue;
    const dot = name.indexOf('.');
    const member = dot < 0 ? name : name.slice(dot + 1);
    const line = `  /** ${guest.doc} */\n  ${member}${guest.type};`;
    if (dot < 0) {
      top.push(line);
      continue;
    }
    const group = name.slice(0, dot);
    groups.set(group, [...(groups.get(group) ?? []), line.replaceAll('\n  ', '\n    ').replace(/^ {2}/, '    ')]);
  }
  const nested = [...groups].map(([group, lines]) => `  readonly ${group}: {\n${lines.join('\n')}\n  };`);
  return `${HEADER}
/** The agent's only way out of its isolate. */
export interface Sys {
${[...top, ...nested].join('\n')}
}

declare global {
  const sys: Sys;
${WEB_DECLARATIONS.trim()
  .split('\n')
  .map((line) => (line === '' ? '' : `  ${line}`))
  .join('\n')}
}
`;
}

/** The global names the web declarations declare (var, function, class), for the tests that compare tables. */
export function declaredGlobals(): string[] {
  const names = new Set<string>();
  for (const match of WEB_DECLARATIONS.matchAll(/^(?:var|function|class) ([A-Za-z]+)/gm)) names.add(match[1] ?? '');
  return [...names];
}

/** The web globals, by name, for README's list. */
export function globalNames(): string[] {
  return GUEST_GLOBALS.map(({ name }) => name);
}
