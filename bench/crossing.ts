// The guest→host call the syscall suite and the peer suite measure: one isolate carrying both the kernel's
// prelude bound to the real dispatcher (on a hand-built session holding a root grant for a noop tool, so the
// path includes the capability check, labels, quota and both audit records) and bare isolated-vm callbacks
// that carry the same string and do nothing with it. Each function runs its call BATCH times per invocation.
import { hash } from 'node:crypto';
import ivm from 'isolated-vm';
import { z } from 'zod';
import { defineTool } from '../index.js';
import { getPreludeSource, PRELUDE_FILENAME } from '../isolates/prelude.js';
import { PRELUDE_CONFIG } from '../isolates/prelude-config.js';
import { AuditLog, MemoryAuditSink } from '../runtime/audit/audit-log.js';
import { CapabilityAuthority } from '../runtime/capability/authority.js';
import { SigningKey } from '../runtime/capability/signing-key.js';
import { DEFAULT_LIMITS } from '../runtime/process/limits.js';
import { AgentSession } from '../runtime/process/session.js';
import { ToolRegistry } from '../runtime/tool-use/tool-contract.js';
import { dispatch } from '../syscalls/dispatch.js';
import { standaloneServices } from '../test/helpers/services.js';

/** Calls per invocation of each function, so tinybench's own per-iteration cost does not dominate. */
export const BATCH = 200;
/** The arguments of the noop tool call, a typical small tool call. */
export const ARGS = { path: '/workspace/notes/today.md', mode: 'utf8', limit: 4096 };
/** The string the guest stub sends for that call: what every bare callback and peer carries too. */
export const PAYLOAD = JSON.stringify(['noop', ARGS, null]);

type Loop = ivm.Reference<(n: number) => unknown>;

export interface Crossing {
  /** `sys.tool('noop', ARGS)` n times, called into synchronously from the host (same thread). */
  readonly kernelSync: Loop;
  /** A bare sync callback carrying PAYLOAD n times, same thread. */
  readonly bareSync: Loop;
  /** `await sys.tool('noop', ARGS)` n times: apply it asynchronously (the isolate on its own thread). */
  readonly kernelAsync: Loop;
  /** `await` a bare async callback carrying PAYLOAD n times. */
  readonly bareAsync: Loop;
  /** A bare sync callback carrying PAYLOAD n times from the isolate's own thread. */
  readonly bareSyncOnWorker: Loop;
  /**
   * A bare sync callback carrying PAYLOAD n times, same thread, that also makes the SHA-256 calls the audit
   * records of one kernel call need: each record's hash (its leaf) over the lines the kernel wrote for the same
   * call, and the two interior Merkle nodes two leaves add. The least any audited call can cost in this format.
   */
  readonly bareSyncHashed: Loop;
  dispose(): void;
}

/** Builds the isolate, the session and the loops. */
export function createCrossing(): Crossing {
  const noop = defineTool({ name: 'noop', description: 'does nothing', input: z.unknown(), run: () => null });
  const authority = new CapabilityAuthority({ rootKey: SigningKey.generate() });
  const records = new MemoryAuditSink({ retain: 10_000 });
  const session = new AgentSession(
    'bench',
    SigningKey.generate(),
    DEFAULT_LIMITS,
    standaloneServices({
      tools: new ToolRegistry().add(noop),
      authority,
      audit: new AuditLog({ key: SigningKey.generate(), sink: records }),
      maxPayloadBytes: 1024 * 1024,
      emit: () => {},
    }),
  );
  authority.grant({ audience: session.publicKey, action: 'noop', resource: 'noop' });
  session.state = 'running';

  const isolate = new ivm.Isolate({ memoryLimit: 128 });
  const context = isolate.createContextSync();
  const prelude = isolate.compileScriptSync(getPreludeSource(), { filename: PRELUDE_FILENAME }).runSync(context, {
    reference: true,
  }) as ivm.Reference<(...args: unknown[]) => unknown>;
  prelude.applySync(undefined, [
    new ivm.Callback((_id: number, name: string, payload: string) => dispatch(session, name, payload) as string, {
      sync: true,
    }),
    new ivm.Callback(() => {}, { ignored: true }),
    PRELUDE_CONFIG,
  ]);
  context.global.setSync(
    '$bareSync',
    new ivm.Callback((_name: string, payload: string) => `v${payload}`, { sync: true }),
  );
  context.global.setSync(
    '$bareAsync',
    new ivm.Callback((_name: string, payload: string) => `v${payload}`, { async: true }),
  );
  const fn = (source: string) => context.evalSync(source, { reference: true }) as Loop;
  const args = JSON.stringify(ARGS);
  const payload = JSON.stringify(PAYLOAD);
  // The stored lines of one real call's records: a v2 record's hash is SHA-256(0x00 ‖ its line without `hash`,
  // runtime/audit/record.ts), a little shorter than these, so the floor is if anything high.
  fn(`(n) => sys.tool('noop', ${args})`).applySync(undefined, [1]);
  const [intentLine, outcomeLine] = records
    .recordLines()
    .slice(-2)
    .map((line) => Buffer.from(`\0${line}`));
  const node = Buffer.alloc(65, 1);
  if (intentLine === undefined || outcomeLine === undefined) throw new Error('the kernel call wrote no records');
  context.global.setSync(
    '$bareSyncHashed',
    new ivm.Callback(
      (_name: string, payload: string) => {
        hash('sha256', intentLine);
        hash('sha256', outcomeLine);
        hash('sha256', node, 'binary');
        hash('sha256', node, 'binary');
        return `v${payload}`;
      },
      { sync: true },
    ),
  );
  return {
    kernelSync: fn(`(n) => { for (let i = 0; i < n; i++) sys.tool('noop', ${args}); }`),
    bareSync: fn(`(n) => { for (let i = 0; i < n; i++) $bareSync('tool', ${payload}); }`),
    kernelAsync: fn(`async (n) => { for (let i = 0; i < n; i++) await sys.tool('noop', ${args}); }`),
    bareAsync: fn(`async (n) => { for (let i = 0; i < n; i++) await $bareAsync('tool', ${payload}); }`),
    bareSyncOnWorker: fn(`async (n) => { for (let i = 0; i < n; i++) $bareSync('tool', ${payload}); }`),
    bareSyncHashed: fn(`(n) => { for (let i = 0; i < n; i++) $bareSyncHashed('tool', ${payload}); }`),
    dispose: () => isolate.dispose(),
  };
}
