/**
 * The package entry. It is the one place that joins the layers: the runtime kernel knows nothing of
 * isolated-vm, and this module hands it the isolate launcher.
 */
import { IsolateLauncher } from './isolates/launcher.js';
import { type KernelOptions, Kernel as RuntimeKernel } from './runtime/kernel.js';

export type { AgentSession, KernelEvent, RunResult, Usage } from './runtime/agent.js';
export { AuditLog, MemoryAuditSink } from './runtime/audit-log.js';
export { verifyAuditConsistency, verifyRecordInclusion } from './runtime/audit-proof.js';
export type { AuditRecord } from './runtime/audit-record.js';
export { verifyAuditFile } from './runtime/audit-verify.js';
export type { CapabilitySummary } from './runtime/capability-authority.js';
export { ERROR_CODES, type ErrorCode, KernelError } from './runtime/errors.js';
export type { AgentHandle, KernelOptions, RollbackResult, SpawnRequest, SubmitResult } from './runtime/kernel.js';
export type { GrantRule } from './runtime/kernel-capabilities.js';
export { EMPTY_LABEL, joinLabels, type Label, makeLabel } from './runtime/labels.js';
export { DEFAULT_LIMITS, type Limits } from './runtime/limits.js';
export { verifyConsistency, verifyInclusion } from './runtime/merkle.js';
export { loadPolicy, loadPolicyText, type Policy, PolicyError } from './runtime/policy.js';
export type { CapRequest, ChildRequest } from './runtime/process-control.js';
export type { AgentInfo } from './runtime/process-table.js';
export { normalizePath, normalizeUrl } from './runtime/resource-match.js';
export { type SnapshotBody, SnapshotStore } from './runtime/snapshot-store.js';
export { Vault, type VaultEntryOptions } from './runtime/vault.js';
export { createFsTools, type FsToolsOptions } from './tools/fs.js';
export { createHttpTool, type HttpOptions, httpConfigSchema } from './tools/http.js';
export { createProcTool, GIT_FORBIDDEN_FLAGS, type ProcOptions, procConfigSchema } from './tools/proc.js';
export {
  defineTool,
  type Tool,
  type ToolContext,
  type ToolDefinition,
  ToolRegistry,
  toolDefinition,
  type UndoContext,
} from './tools/registry.js';

export class Kernel extends RuntimeKernel {
  /** Creates a kernel that runs agents in isolated-vm isolates. Throws TypeError/RangeError on bad options. */
  static create(options: KernelOptions = {}): Kernel {
    return new Kernel(options, new IsolateLauncher());
  }
}
