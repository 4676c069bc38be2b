import type { AuthorizeResult, CapabilityAuthority } from '../capability/authority.js';
import { describeIssue } from '../core/describe-issue.js';
import { KernelError } from '../core/errors.js';
import { parseResource } from '../core/resource-match.js';
import type { Label } from '../labels/label.js';
import type { LabelRules } from '../labels/label-rules.js';
import type { Tool, ToolContext } from './tool-contract.js';
import { toolAction } from './tool-contract.js';

/**
 * The one gate every tool call passes, for agents (`sys.tool`) and for the host (`kernel.submit`): validate
 * the arguments against the tool's schema, derive the action and resource the tool declares, authorize the
 * use against the caller's capabilities (which debits every link of the chain), then run the tool.
 * Default deny: a caller without a capability that allows exactly this use gets E_CAP_*.
 */

export interface ToolUse {
  readonly tool: Tool;
  readonly args: unknown;
  readonly action: string;
  readonly resource: string;
}

/**
 * Validates `rawArgs` for `tool` and derives what the call acts on. Throws KernelError E_BAD_ARG for
 * arguments the schema refuses or a resource the tool cannot derive; messages describe the agent's own input.
 */
export function prepareToolUse(tool: Tool, rawArgs: unknown): ToolUse {
  const parsed = tool.input.safeParse(rawArgs);
  if (!parsed.success) {
    throw new KernelError('E_BAD_ARG', `invalid arguments for "${tool.name}": ${describeIssue(parsed.error)}`);
  }
  let resource: string | undefined;
  try {
    resource = tool.resource === undefined ? tool.name : tool.resource(parsed.data);
  } catch {
    resource = undefined;
  }
  if (resource === undefined || parseResource(resource) === undefined) {
    throw new KernelError('E_BAD_ARG', `"${tool.name}": the arguments do not name a valid resource`);
  }
  return { tool, args: parsed.data, action: toolAction(tool), resource };
}

/**
 * Refuses the call with E_TAINT when `callLabel` carries a tag one of the tool's sinks denies. The message
 * names the tool, the argument and the tags, never the data.
 */
export function checkSinks(rules: LabelRules, use: ToolUse, callLabel: Label): void {
  const finding = rules.check(use.tool, use.args, callLabel);
  if (finding !== undefined) {
    const where = finding.arg === '*' ? 'its arguments' : `argument "${finding.arg}"`;
    throw new KernelError('E_TAINT', `"${use.tool.name}" refuses data labelled ${finding.tags.join(', ')} in ${where}`);
  }
}

/**
 * Authorizes `use` for `holder`, whose use carries `label` (joined into the counters it debits); a refusal
 * carries the authority's code and a message naming action and resource. Either way `observed` is the label
 * of the counters the decision read, for the caller to join into the holder's label.
 */
export function authorizeToolUse(
  authority: CapabilityAuthority,
  holder: string,
  use: ToolUse,
  label: Label,
): AuthorizeResult {
  const params = isRecord(use.args) ? use.args : undefined;
  return authority.authorize({
    holder,
    label,
    action: use.action,
    resource: use.resource,
    ...(params === undefined ? {} : { params }),
    ...(use.tool.defaults === undefined ? {} : { defaults: use.tool.defaults }),
  });
}

/**
 * Runs an authorized use. A tool's own KernelError passes through (tools choose those messages to be
 * safe); anything else becomes E_TOOL_FAILED with no detail. Returns the value or a promise of it.
 */
export function runToolUse(use: ToolUse, ctx: ToolContext): unknown {
  const fail = (error: unknown): never => {
    if (error instanceof KernelError) throw error;
    throw new KernelError('E_TOOL_FAILED', `tool "${use.tool.name}" failed`);
  };
  let running: unknown;
  try {
    running = use.tool.run(use.args, ctx);
  } catch (error) {
    fail(error);
  }
  if (running !== null && typeof running === 'object' && typeof (running as PromiseLike<unknown>).then === 'function') {
    return Promise.resolve(running as PromiseLike<unknown>).then(undefined, fail);
  }
  return running;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
