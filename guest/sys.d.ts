// Generated from the syscall table (syscalls/table.ts) by `npm run generate`. Do not edit.
// What agent code sees inside an isokernel isolate: the frozen global `sys`. Every call returns a promise
// that rejects with an Error whose `code` is one of the kernel's error codes.

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

/** A child agent: exactly one of `program` (registered by the host) and `code` (needs agent.spawn on inline). */
export interface SpawnRequest {
  program?: string;
  code?: string;
  input?: unknown;
  caps?: CapRequest[];
  budget?: Partial<Record<'cpu_ms' | 'wall_ms' | 'memory_mb' | 'tokens_in' | 'tokens_out' | 'cost_usd' | 'tool_calls' | 'children' | 'depth' | 'warn_at', number>>;
  namespace?: string;
  mounts?: { name: string; prefix?: string; mode: 'ro' | 'rw'; from?: string }[];
}

/** One audit record as `sys.audit` returns it. */
export interface AuditRecord {
  readonly seq: number;
  readonly kind: 'intent' | 'outcome';
  readonly agent: string;
  readonly syscall: string;
  readonly action: string;
  readonly resource: string | null;
  readonly [field: string]: unknown;
}

/** The agent's only way out of its isolate. */
export interface Sys {
  /** Calls a registered tool; with `{ handle: true }` the result stays in the kernel as an opaque handle. */
  tool(name: string, args?: unknown, options?: { handle?: boolean }): Promise<any>;
  /** A bounded log line, recorded in the audit log and delivered to the host. */
  log(...values: unknown[]): Promise<void>;
  /** The capabilities the agent holds (never token bytes). */
  caps(): Promise<CapabilityInfo[]>;
  /** The value a handle stands for; the agent's label rises by the handle's. */
  read(handle: Handle): Promise<any>;
  /** The agent's current context label (sorted tags); it only ever rises. */
  label(): Promise<string[]>;
  /** A new handle without `tags`; needs a `label.declassify` capability for each tag. */
  declassify(handle: Handle, tags: string[]): Promise<Handle>;
  /** Starts a child agent; resolves to its id. */
  spawn(request: SpawnRequest): Promise<string>;
  /** A child's result once it ends; a failed child rejects with its code. */
  join(id: string, options?: { handle?: boolean }): Promise<any>;
  /** Ends a descendant and everything below it. */
  kill(id: string): Promise<void>;
  /** Runs a registered program as a child holding only the listed attenuations; resolves to its result. */
  handoff(request: { to: string; task?: unknown; caps?: CapRequest[] }): Promise<any>;
  /** Freezes the agent's state; resolves to its content id (SHA-256). */
  snapshot(state: unknown): Promise<string>;
  /** The state a restored agent was frozen with; undefined when not restored. */
  restored(): Promise<unknown>;
  /** Audit records of the agent's own namespace and its whole-namespace mounts. */
  audit(options?: { after?: number; limit?: number }): Promise<AuditRecord[]>;
  readonly mem: {
    /** A value of the agent's namespace memory (or a mount's); its label joins the agent's. */
    get(key: string, options?: { mount?: string; handle?: boolean }): Promise<any>;
    /** Stores a value with the agent's current label. */
    put(key: string, value: unknown, options?: { mount?: string }): Promise<void>;
    /** Keys under a prefix. */
    list(prefix: string, options?: { mount?: string }): Promise<string[]>;
    /** Deletes a key. */
    delete(key: string, options?: { mount?: string }): Promise<boolean>;
  };
}

declare global {
  const sys: Sys;
}
