import type { KernelEvent, KernelServices } from '../../runtime/agent.js';
import type { AuditLog } from '../../runtime/audit-log.js';
import { MemoryBlobStore } from '../../runtime/blob-store.js';
import type { CapabilityAuthority } from '../../runtime/capability-authority.js';
import { KernelError } from '../../runtime/errors.js';
import { MemoryKvStore } from '../../runtime/kv-store.js';
import { LabelRules } from '../../runtime/label-rules.js';
import { NamespaceMemory } from '../../runtime/namespace-memory.js';
import type { ProcessControl } from '../../runtime/process-control.js';
import { KvLabelStore } from '../../runtime/resource-labels.js';
import { UndoJournal } from '../../runtime/undo-journal.js';
import { Vault } from '../../runtime/vault.js';
import type { ToolRegistry } from '../../tools/registry.js';

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
  };
}
