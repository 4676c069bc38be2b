/**
 * The package entry. It is the one place that joins the layers: the runtime kernel knows nothing of
 * isolated-vm, and this module hands it the isolate launcher.
 */
export { Kernel } from './kernel-entry.js';

import {
  loadPolicyText as loadPolicyTextWith,
  loadPolicy as loadPolicyWith,
  type Policy,
  type PolicySection,
} from './runtime/policy/policy.js';
import { BUILTIN_POLICY_SECTIONS } from './tools/policy-sections.js';

// The public API: every export is deliberate and listed in docs/api-report.md, which a test holds equal to
// the built package. Classes a host only receives from the kernel (the registries, the vault, the snapshot
// store) are exported as types; the kernel hands out instances. Every error the kernel throws on purpose
// extends IsokernelError.

export {
  type AgentLoopEvent,
  type AgentLoopOptions,
  type AgentLoopResult,
  runAgentLoop,
} from './agents/agent-loop.js';
export {
  executeDescription,
  jsonSchemaToTypeScript,
  toolsDeclaration,
} from './agents/code-mode/typescript-declarations.js';
export { createMcpServer, type McpServerOptions, type McpSession } from './agents/mcp-server.js';
export {
  type Criterion,
  type Evaluation,
  type OutcomeIteration,
  type OutcomeOptions,
  type OutcomeResult,
  type Rubric,
  withOutcome,
} from './agents/outcome.js';
export { type Labelled, labelled } from './agents/outcome-label.js';
export { modelToolName, resolveToolDefs, type ToolDef, type ToolSpec } from './agents/tool-defs.js';
// What an independent monitor needs to check a log without a kernel: parse the stored lines strictly, hash
// each record into its Merkle leaf, rebuild the tree, and check signed checkpoints and consistency between them.
export {
  type AuditCheckpoint,
  CHECKPOINT_DOMAIN,
  type CheckpointStatement,
  checkpointMessage,
  parseCheckpointLine,
  verifyCheckpointSignature,
} from './runtime/audit/checkpoint.js';
export { AuditStoreError } from './runtime/audit/file-store.js';
export {
  EMPTY_ROOT,
  hashChildren,
  hashLeaf,
  MerkleTree,
  verifyConsistency,
  verifyInclusion,
} from './runtime/audit/merkle.js';
export {
  type AuditConsistencyProof,
  type AuditInclusionProof,
  type AuditTrustOptions,
  verifyAuditConsistency,
  verifyCheckpointConsistency,
  verifyRecordInclusion,
} from './runtime/audit/proof.js';
export { type AuditRecord, type AuditStatus, parseRecordLine, recordLeafHash } from './runtime/audit/record.js';
export { type AuditVerifyOptions, type AuditVerifyReport, verifyAuditFile } from './runtime/audit/verify-file.js';
export type { CapabilitySummary } from './runtime/capability/authority.js';
export type { GrantRule } from './runtime/capability/grant-rule.js';
export type { Capability, CapabilityFailure, CapabilityResult } from './runtime/capability/token.js';
export {
  ERROR_CODES,
  type ErrorCode,
  IsokernelError,
  KernelError,
  type KernelErrorInfo,
  ObservedRefusal,
  observedBy,
} from './runtime/core/errors.js';
export { PayloadTooLargeError } from './runtime/core/payload-size.js';
export { normalizePath, normalizeUrl } from './runtime/core/resource-match.js';
export type { AgentHandle, RollbackResult, SubmitRequest, SubmitResult } from './runtime/kernel.js';
export type { KernelOptions, RestoreOptions, SandboxHostOptions, SpawnRequest } from './runtime/kernel-options.js';
export type { AuditReader, AuthorityView, LabelledCapabilitySummary } from './runtime/kernel-views.js';
export { EMPTY_LABEL, joinLabels, type Label, makeLabel } from './runtime/labels/label.js';
export {
  definePolicySection,
  type Policy,
  PolicyError,
  type PolicyIssue,
  type PolicySection,
} from './runtime/policy/policy.js';
export { DEFAULT_LIMITS, type Limits } from './runtime/process/limits.js';
export type { AgentInfo } from './runtime/process/process-table.js';
export type { Program, ProgramRegistry } from './runtime/process/programs.js';
export type { KernelEvent, LogLevel, RunResult, Usage } from './runtime/process/run-result.js';
export { SnapshotRegExp } from './runtime/store/snapshot-regexp.js';
export type { SnapshotBody, SnapshotStore } from './runtime/store/snapshot-store.js';
export {
  defineTool,
  type Tool,
  type ToolContext,
  type ToolDefinition,
  type ToolRegistry,
  toolDefinition,
  type UndoContext,
} from './runtime/tool-use/tool-contract.js';
export type { UndoRecord } from './runtime/tool-use/undo-journal.js';
export type { Vault, VaultEntryOptions } from './runtime/tool-use/vault.js';
export { createFsTools, type FsToolsOptions } from './tools/fs.js';
export { createHttpTool, type HttpOptions, type HttpResult, httpConfigSchema } from './tools/http.js';
export {
  createMcpTool,
  type McpCallResult,
  type McpContent,
  type McpHostOptions,
  type McpOptions,
  mcpConfigSchema,
} from './tools/mcp.js';
export {
  type ChatInput,
  type ChatResult,
  createModelTool,
  type ModelOptions,
  type ModelPrice,
  modelConfigSchema,
  modelOptionsFromConfig,
} from './tools/model.js';
export {
  createProcTool,
  GIT_FORBIDDEN_FLAGS,
  type ProcOptions,
  type ProcResult,
  procConfigSchema,
} from './tools/proc.js';

/**
 * Loads a policy file (or validates a policy object) accepting the built-in tools' `tools:` sections plus
 * `sections`. Throws PolicyError with file:line:col for every problem, TypeError for a bad argument.
 */
export function loadPolicy(pathOrObject: string | object, sections: readonly PolicySection[] = []): Policy {
  return loadPolicyWith(pathOrObject, [...BUILTIN_POLICY_SECTIONS, ...sections]);
}

/** `loadPolicy` for YAML text; `filename` is used in messages only. */
export function loadPolicyText(text: string, filename: string, sections: readonly PolicySection[] = []): Policy {
  return loadPolicyTextWith(text, filename, [...BUILTIN_POLICY_SECTIONS, ...sections]);
}
