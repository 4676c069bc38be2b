import { z } from 'zod';
import type { AgentSession } from '../runtime/agent.js';
import type { Attempt } from '../runtime/audit-trail.js';
import { KernelError } from '../runtime/errors.js';
import { authorizeToolUse, prepareToolUse, runToolUse } from '../runtime/tool-gate.js';
import { defineSyscall } from './syscall.js';

/** `sys.tool(name, args, options)`: runs a registered tool for the calling agent, if its capabilities allow. */
export const toolSyscall = defineSyscall({
  name: 'tool',
  charge: { tool_calls: 1 },
  args: z.tuple([
    z.string().min(1).max(64),
    z.unknown(),
    z.union([z.null(), z.strictObject({ handle: z.boolean().optional() })]),
  ]),
  run(session: AgentSession, [name, args, options], attempt: Attempt) {
    const tool = session.services.tools.get(name);
    if (tool === undefined) throw new KernelError('E_NO_TOOL', `sys.tool: no tool named "${name}"`);
    if (options?.handle === true) {
      throw new KernelError('E_BAD_ARG', 'sys.tool: handle results are not supported by this kernel');
    }
    const use = prepareToolUse(tool, args ?? undefined);
    attempt.describe(use.action, use.resource, use.args);
    attempt.begin();
    const decision = authorizeToolUse(session.services.authority, session.publicKey, use);
    if (!decision.ok) throw new KernelError(decision.code, decision.message);
    return runToolUse(use, { agent: session.id, signal: session.signal });
  },
});
