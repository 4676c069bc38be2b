/**
 * The kernel class the package exports (index.ts re-exports it): the runtime kernel joined with the isolate
 * launcher and the built-in tools' policy sections. It lives apart from index.ts so the CLI can load the kernel
 * without the whole package surface (the MCP server SDK, Code Mode's declarations…): a `run` imports this and
 * not the entry, which measured ≈ 0.3 s of the CLI's start (bench/cli.bench.ts).
 */
import type { AgentLoopOptions, AgentLoopResult } from './agents/agent-loop.js';
import { createLauncher } from './isolates/isolation.js';
import { Kernel as RuntimeKernel } from './runtime/kernel.js';
import { type KernelOptions, parseKernelOptions } from './runtime/kernel-options.js';
import { BUILTIN_POLICY_SECTIONS } from './tools/policy-sections.js';

export class Kernel extends RuntimeKernel {
  /**
   * Creates a kernel that runs agents in isolated-vm isolates: in supervised sandbox-host processes unless
   * `options.isolation` is `'inline'`. Throws TypeError/RangeError on bad options.
   */
  static create(options: KernelOptions = {}): Kernel {
    const launcher = createLauncher(parseKernelOptions(options));
    try {
      return new Kernel(options, { launcher, policySections: BUILTIN_POLICY_SECTIONS });
    } catch (error) {
      launcher.close();
      throw error;
    }
  }

  /**
   * Runs the LLM agent loop as an agent of this kernel (see agents/agent-loop.ts): every model call and
   * tool call is a syscall. Never rejects for agent-caused failures; throws TypeError for host mistakes.
   */
  async runAgentLoop(options: AgentLoopOptions): Promise<AgentLoopResult> {
    // Loaded on first use: the loop, Code Mode and their declarations are ≈ 20 modules a plain `run` never
    // needs (the CLI's start, bench/cli.bench.ts). runAgentLoop is async, so its TypeErrors stay rejections.
    const { runAgentLoop } = await import('./agents/agent-loop.js');
    return runAgentLoop(this, options);
  }
}
