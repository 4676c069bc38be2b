import { z } from 'zod';
import type { AgentSession } from '../runtime/agent.js';
import { KernelError } from '../runtime/errors.js';
import { defineSyscall, whenSettled } from './syscall.js';
import { describeIssue } from './validation.js';

/** `sys.tool(name, args, options)`: runs a registered tool for the calling agent. */
export const toolSyscall = defineSyscall({
  name: 'tool',
  args: z.tuple([
    z.string().min(1).max(64),
    z.unknown(),
    z.union([z.null(), z.strictObject({ handle: z.boolean().optional() })]),
  ]),
  run(session: AgentSession, [name, args, options]) {
    const tool = session.services.tools.get(name);
    if (tool === undefined) throw new KernelError('E_NO_TOOL', `sys.tool: no tool named "${name}"`);
    if (options?.handle === true) {
      throw new KernelError('E_BAD_ARG', 'sys.tool: handle results are not supported by this kernel');
    }
    const parsed = tool.input.safeParse(args ?? undefined);
    if (!parsed.success) {
      throw new KernelError('E_BAD_ARG', `sys.tool: invalid arguments for "${name}": ${describeIssue(parsed.error)}`);
    }
    let running: unknown;
    try {
      running = tool.run(parsed.data, { agent: session.id, signal: session.signal });
    } catch (error) {
      throw toolFailure(name, error);
    }
    return whenSettled(
      running,
      (value) => value,
      (error) => {
        throw toolFailure(name, error);
      },
    );
  },
});

// A tool's own KernelError is deliberate and safe to pass on; anything else may carry host detail.
function toolFailure(name: string, error: unknown): KernelError {
  if (error instanceof KernelError) return error;
  return new KernelError('E_TOOL_FAILED', `sys.tool: tool "${name}" failed`);
}
