import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import { KernelError } from '../runtime/core/errors.js';
import { jsonWithin } from '../runtime/core/payload-size.js';
import { joinLabels } from '../runtime/labels/label.js';
import type { AgentSession } from '../runtime/process/session.js';
import { checkKey, MAX_LIST, type Mount } from '../runtime/store/namespace-memory.js';
import { defineSyscall } from './syscall.js';

/**
 * `sys.mem.get/put/list/delete`: the caller's namespace memory, or a mount its parent gave it. Values keep
 * the label they were written with (the writer's context joined with any handles in the value), and reading
 * raises the reader's context by it, so memory cannot launder data between agents or across runs.
 */
const options = z.union([
  z.null(),
  z.strictObject({ mount: z.string().min(1).max(64).optional(), handle: z.boolean().optional() }),
]);

interface Target {
  readonly namespace: string;
  readonly key: string;
  readonly mode: 'ro' | 'rw';
}

// The mount (or the agent's own namespace) a call addresses, and the stored key it means.
function resolve(session: AgentSession, mountName: string | undefined, key: string): Target {
  checkKey(key);
  if (mountName === undefined) return { namespace: session.namespace, key, mode: 'rw' };
  const mount: Mount | undefined = session.placement.mounts.get(mountName);
  if (mount === undefined) throw new KernelError('E_NOT_FOUND', `sys.mem: no mount named "${mountName}"`);
  return { namespace: mount.namespace, key: mount.prefix + key, mode: mount.mode };
}

function describe(attempt: Attempt, session: AgentSession, action: string, target: Target): void {
  attempt.describe(action, `mem:${target.namespace}/${target.key}`, null, session.label);
}

// A key's absence is data of whoever could have written or deleted it: the caller takes the labels of the
// namespace's entries and deleters (NamespaceMemory.sized). Before, a labelled child wrote a key named after what
// it had read and its clean parent probed for it, a bit per call with a handle (red-team pass 51's lead); or
// deleted its parent's clean keys, one per bit of a page (pass 52).
async function absent(session: AgentSession, target: Target): Promise<void> {
  const { label } = await session.services.memory.sized(target.namespace, session.metered);
  session.label = joinLabels(session.label, label);
}

export const memGetSyscall = defineSyscall({
  name: 'mem.get',
  guest: {
    params: ['key', 'options'],
    type: '(key: string, options?: { mount?: string; handle?: boolean }): Promise<any>',
    doc: "A value of the agent's namespace memory (or a mount's); its label joins the agent's.",
  },
  args: z.tuple([z.string(), options]),
  async run(session: AgentSession, [key, opts], attempt: Attempt) {
    const target = resolve(session, opts?.mount, key);
    describe(attempt, session, 'mem.get', target);
    attempt.begin();
    const entry = await session.services.memory.get(target.namespace, target.key, session.meteredReply);
    if (entry === undefined) {
      await absent(session, target);
      return undefined;
    }
    if (opts?.handle === true) {
      // The outcome (its duration: the entry was parsed) depends on the entry, as a tool's kept result does.
      attempt.raise(entry.label);
      return session.metered(() => session.handles.create(entry.value, entry.label));
    }
    session.label = joinLabels(session.label, entry.label);
    return entry.value;
  },
});

export const memPutSyscall = defineSyscall({
  name: 'mem.put',
  guest: {
    params: ['key', 'value', 'options'],
    type: '(key: string, value: unknown, options?: { mount?: string }): Promise<void>',
    doc: "Stores a value with the agent's current label.",
  },
  args: z.tuple([z.string(), z.unknown(), options]),
  async run(session: AgentSession, [key, value, opts], attempt: Attempt) {
    const target = resolve(session, opts?.mount, key);
    const substituted = session.handles.substitute(value);
    // Storing a handle leaves the caller's label as it is, but a refusal that depends on the stored value's
    // size (the payload cap, the namespace's bounds, the tenant's share) is an observation of the handle's data:
    // it raises the caller by the value's label. Before, an agent padded a value to the cap and learned from
    // which refusals came whether a vault scrub had grown its handle (red-team pass 48: a PIN in 14 calls).
    try {
      // One handle repeated can stand for much more than the payload that named it.
      if (!jsonWithin(substituted.value, session.services.maxPayloadBytes).ok) {
        throw new KernelError('E_BAD_ARG', 'sys.mem.put: value exceeds the payload cap once handles are substituted');
      }
      const label = joinLabels(session.label, substituted.label);
      attempt.describe('mem.put', `mem:${target.namespace}/${target.key}`, null, label);
      attempt.begin();
      if (target.mode !== 'rw') {
        throw new KernelError('E_CAP_DENIED', `sys.mem.put: mount "${opts?.mount}" is read-only`);
      }
      await session.services.memory.put(
        target.namespace,
        target.key,
        { value: substituted.value ?? null, label },
        session.metered,
      );
    } catch (error) {
      session.label = joinLabels(session.label, substituted.label);
      attempt.raise(substituted.label);
      throw error;
    }
    return undefined;
  },
});

export const memDeleteSyscall = defineSyscall({
  name: 'mem.delete',
  guest: {
    params: ['key', 'options'],
    type: '(key: string, options?: { mount?: string }): Promise<boolean>',
    doc: 'Deletes a key.',
  },
  args: z.tuple([z.string(), options]),
  async run(session: AgentSession, [key, opts], attempt: Attempt) {
    const target = resolve(session, opts?.mount, key);
    describe(attempt, session, 'mem.delete', target);
    attempt.begin();
    if (target.mode !== 'rw') {
      throw new KernelError('E_CAP_DENIED', `sys.mem.delete: mount "${opts?.mount}" is read-only`);
    }
    // The answer (did the key exist?) is data of whoever wrote it: it raises the context like a read.
    const removed = await session.services.memory.remove(target.namespace, target.key, session.metered, session.label);
    if (removed === undefined) {
      await absent(session, target);
      return false;
    }
    session.label = joinLabels(session.label, removed);
    return true;
  },
});

/**
 * Keys are data too (a key can spell a secret): listing raises the context by every listed entry's label, and
 * by the namespace's (`absent`), since which keys are missing from the answer is data of whoever wrote or deleted.
 */
export const memListSyscall = defineSyscall({
  name: 'mem.list',
  guest: {
    params: ['prefix', 'options'],
    type: '(prefix: string, options?: { mount?: string }): Promise<string[]>',
    doc: 'Keys under a prefix.',
  },
  args: z.tuple([z.union([z.null(), z.string()]), options]),
  async run(session: AgentSession, [prefix, opts], attempt: Attempt) {
    const target = resolve(session, opts?.mount, prefix ?? '');
    describe(attempt, session, 'mem.list', target);
    attempt.begin();
    const mountPrefix = target.key.slice(0, target.key.length - (prefix ?? '').length);
    // Labels only: the values are never parsed for a call that answers keys.
    const entries = await session.services.memory.labels(target.namespace, target.key, MAX_LIST, session.metered);
    await absent(session, target);
    let label = session.label;
    const keys: string[] = [];
    for (const [key, entryLabel] of entries) {
      label = joinLabels(label, entryLabel);
      keys.push(key.slice(mountPrefix.length));
    }
    session.label = label;
    return keys;
  },
});
