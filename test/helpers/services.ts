import type { AuditLog } from '../../runtime/audit/audit-log.js';
import type { CapabilityAuthority } from '../../runtime/capability/authority.js';
import { KernelError } from '../../runtime/core/errors.js';
import { KvLabelStore } from '../../runtime/labels/kv-label-store.js';
import { LabelRules } from '../../runtime/labels/label-rules.js';
import { CallsInFlight } from '../../runtime/process/calls-in-flight.js';
import type { KernelEvent } from '../../runtime/process/run-result.js';
import type { KernelServices, ProcessControl } from '../../runtime/process/session.js';
import { MemoryBlobStore } from '../../runtime/store/blob-store.js';
import { MemoryKvStore } from '../../runtime/store/kv-store.js';
import { NamespaceMemory } from '../../runtime/store/namespace-memory.js';
import type { ToolRegistry } from '../../runtime/tool-use/tool-contract.js';
import { UndoJournal } from '../../runtime/tool-use/undo-journal.js';
import { Vault } from '../../runtime/tool-use/vault.js';

const noProcesses: ProcessControl = {
  spawn: () => {
    throw new KernelError('E_NOT_FOUND', 'no process table');
  },
  join: () => Promise.reject(new KernelError('E_NOT_FOUND', 'no process table')),
  kill: () => {
    throw new KernelError('E_NOT_FOUND', 'no process table');
  },
  snapshot: () => Promise.reject(new KernelError('E_NOT_FOUND', 'no process table')),
  auditRecords: () => [],
};

/**
 * Kernel services for driving `dispatch` without a kernel (dispatch tests, the syscall benchmark): memory
 * stores, an empty vault, and no process table.
 */
export function standaloneServices(parts: {
  tools: ToolRegistry;
  authority: CapabilityAuthority;
  audit: AuditLog;
  maxPayloadBytes: number;
  emit: (event: KernelEvent) => void;
}): KernelServices {
  const kv = new MemoryKvStore();
  return {
    ...parts,
    labels: new LabelRules(undefined),
    toolEnv: {
      authority: parts.authority,
      audit: parts.audit,
      vault: new Vault(),
      blobs: new MemoryBlobStore(),
      labels: new KvLabelStore(kv),
      undo: new UndoJournal(kv),
    },
    processes: noProcesses,
    memory: new NamespaceMemory(kv),
    calls: new CallsInFlight(),
  };
}
