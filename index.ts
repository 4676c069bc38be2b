/**
 * The package entry. It is the one place that joins the layers: the runtime kernel knows nothing of
 * isolated-vm, and this module hands it the isolate launcher.
 */
import { type AgentLoopOptions, type AgentLoopResult, runAgentLoop } from './agents/agent-loop.js';
import { IsolateLauncher } from './isolates/isolate-launcher.js';
import { type KernelOptions, Kernel as RuntimeKernel } from './runtime/kernel.js';
import {
  loadPolicyText as loadPolicyTextWith,
  loadPolicy as loadPolicyWith,
  type Policy,
  type PolicySection,
} from './runtime/policy/policy.js';
import { BUILTIN_POLICY_SECTIONS } from './tools/policy-sections.js';

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
export { modelToolName, resolveToolDefs, type ToolDef, type ToolSpec } from './agents/tool-defs.js';
export { AuditLog, MemoryAuditSink } from './runtime/audit/audit-log.js';
export { verifyConsistency, verifyInclusion } from './runtime/audit/merkle.js';
export { verifyAuditConsistency, verifyRecordInclusion } from './runtime/audit/proof.js';
export type { AuditRecord } from './runtime/audit/record.js';
export { verifyAuditFile } from './runtime/audit/verify-file.js';
export type { CapabilitySummary } from './runtime/capability/authority.js';
export type { GrantRule } from './runtime/capability/grant-rule.js';
export { ERROR_CODES, type ErrorCode, KernelError } from './runtime/core/errors.js';
export { normalizePath, normalizeUrl } from './runtime/core/resource-match.js';
export type { AgentHandle, KernelOptions, RollbackResult, SpawnRequest, SubmitResult } from './runtime/kernel.js';
export { EMPTY_LABEL, joinLabels, type Label, makeLabel } from './runtime/labels/label.js';
export {
  definePolicySection,
  type Policy,
  PolicyError,
  type PolicySection,
} from './runtime/policy/policy.js';
export { DEFAULT_LIMITS, type Limits } from './runtime/process/limits.js';
export type { CapRequest, ChildRequest } from './runtime/process/process-control.js';
export type { AgentInfo } from './runtime/process/process-table.js';
export type { KernelEvent, RunResult, Usage } from './runtime/process/run-result.js';
export type { AgentSession } from './runtime/process/session.js';
export { type SnapshotBody, SnapshotStore } from './runtime/store/snapshot-store.js';
export {
  defineTool,
  type Tool,
  type ToolContext,
  type ToolDefinition,
  ToolRegistry,
  toolDefinition,
  type UndoContext,
} from './runtime/tool-use/tool-contract.js';
export { Vault, type VaultEntryOptions } from './runtime/tool-use/vault.js';
export { createFsTools, type FsToolsOptions } from './tools/fs.js';
export { createHttpTool, type HttpOptions, httpConfigSchema } from './tools/http.js';
export { createMcpTool, type McpCallResult, type McpContent, type McpOptions, mcpConfigSchema } from './tools/mcp.js';
export {
  type ChatInput,
  type ChatResult,
  createModelTool,
  type ModelOptions,
  type ModelPrice,
  modelConfigSchema,
  modelOptionsFromConfig,
} from './tools/model.js';
export { createProcTool, GIT_FORBIDDEN_FLAGS, type ProcOptions, procConfigSchema } from './tools/proc.js';

export class Kernel extends RuntimeKernel {
  /** Creates a kernel that runs agents in isolated-vm isolates. Throws TypeError/RangeError on bad options. */
  static create(options: KernelOptions = {}): Kernel {
    return new Kernel(options, { launcher: new IsolateLauncher(), policySections: BUILTIN_POLICY_SECTIONS });
  }

  /**
   * Runs the LLM agent loop as an agent of this kernel (see agents/agent-loop.ts): every model call and
   * tool call is a syscall. Never rejects for agent-caused failures; throws TypeError for host mistakes.
   */
  runAgentLoop(options: AgentLoopOptions): Promise<AgentLoopResult> {
    return runAgentLoop(this, options);
  }
}

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
