import { expect } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel, type KernelOptions, type RunResult, type Tool } from '../../index.js';
import { ProcessLauncher, type ProcessLauncherOptions } from '../../isolates/process-launcher.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../../runtime/kernel.js';
import { BUILTIN_POLICY_SECTIONS } from '../../tools/policy-sections.js';

/** Tools most suites need: an echo that returns its arguments, a failing one, an async one. */
export const testTools: Tool[] = [
  defineTool({ name: 'echo', description: 'returns its arguments', input: z.unknown(), run: (args) => args }),
  defineTool({ name: 'noop', description: 'returns nothing', input: z.unknown(), run: () => undefined }),
  defineTool({
    name: 'fail',
    description: 'throws an error carrying host detail',
    input: z.unknown(),
    run: () => {
      throw new Error(`failure at ${process.cwd()} SECRET-TOKEN-123`);
    },
  }),
  defineTool({
    name: 'reject',
    description: 'rejects with host detail',
    input: z.unknown(),
    run: async () => {
      throw new Error(`rejected at ${process.cwd()} SECRET-TOKEN-123`);
    },
  }),
  defineTool({
    name: 'sleep',
    description: 'resolves after ms',
    input: z.strictObject({ ms: z.number().int().min(0).max(10_000) }),
    run: async ({ ms }, ctx) => {
      await new Promise<void>((resolve) => {
        // Its listener removed when it ends, or every call would leave one on the agent's signal.
        const done = () => {
          clearTimeout(timer);
          ctx.signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        ctx.signal.addEventListener('abort', done, { once: true });
      });
      return { slept: ms };
    },
  }),
];

/** A policy that lets agents call every test tool. */
export const testToolsPolicy = {
  capabilities: testTools.map((tool) => ({ action: tool.name, resource: tool.name })),
};

/**
 * A kernel with the test tools and, unless `options.policy` says otherwise, a policy allowing them. Suites of
 * kernel logic run agents inline (fast); pass `isolation: 'process'` for the sandbox-host tier (the escape
 * suites run in both, see ISOLATION_MODES).
 */
export function testKernel(options: KernelOptions = {}): Kernel {
  return Kernel.create({
    policy: testToolsPolicy,
    isolation: 'inline',
    ...options,
    tools: [...testTools, ...(options.tools ?? [])],
  });
}

/**
 * A process-tier kernel like `testKernel`, with its launcher in reach: tests read which host runs an agent
 * (`launcher.hostPid(id)`) or substitute the sandbox host program (`entry`).
 */
export function processTestKernel(
  options: KernelOptions = {},
  launcherOptions: Partial<ProcessLauncherOptions> = {},
): { kernel: Kernel; launcher: ProcessLauncher } {
  const launcher = new ProcessLauncher({ maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, ...launcherOptions });
  const kernel = new Kernel(
    { policy: testToolsPolicy, ...options, isolation: 'process', tools: [...testTools, ...(options.tools ?? [])] },
    { launcher, policySections: BUILTIN_POLICY_SECTIONS },
  );
  return { kernel, launcher };
}

/** Both isolation tiers, for suites that must hold in each (`describe.each(ISOLATION_MODES)`). */
export const ISOLATION_MODES = ['inline', 'process'] as const;
export type IsolationMode = (typeof ISOLATION_MODES)[number];

/** Runs `code` in a fresh kernel and closes it. */
export async function runAgent(code: string, options: KernelOptions & { input?: unknown } = {}): Promise<RunResult> {
  const { input, ...kernelOptions } = options;
  const kernel = testKernel(kernelOptions);
  try {
    return await kernel.run({ code, input });
  } finally {
    await kernel.close();
  }
}

/** Strings that must never reach an agent: host paths and the planted secret. */
export const HOST_SECRETS = [process.cwd(), 'SECRET-TOKEN-123', 'node_modules', '/work/', 'isolated-vm'];

/**
 * A tool named `record` that keeps every argument it receives in `calls` and answers `reply`, with the
 * capability that lets agents call it: attack tests compare what the host got with what the agent sent.
 */
export function recordingTool(reply: unknown = null): {
  tool: Tool;
  calls: unknown[];
  capability: { action: string; resource: string };
} {
  const calls: unknown[] = [];
  const tool = defineTool({
    name: 'record',
    description: 'records the arguments it receives',
    input: z.unknown(),
    run: (args) => {
      calls.push(args);
      return reply;
    },
  });
  return { tool, calls, capability: { action: 'record', resource: 'record' } };
}

/** A test kernel (see `testKernel`) with `programs` registered by name. */
export function kernelWith(programs: Record<string, string>, options: KernelOptions = {}): Kernel {
  const kernel = testKernel(options);
  for (const [name, code] of Object.entries(programs)) kernel.programs.add(name, code);
  return kernel;
}

/**
 * Resolves once `condition()` holds, polling every 5 ms; rejects naming `what` after `timeoutMs`. For states
 * the kernel reaches asynchronously (isolates disposed after a kill), never for timing assertions.
 */
export async function waitFor(condition: () => boolean, what = 'condition', timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * After an attack or a kill: every agent ended and its isolate disposed (waited for), and the kernel still
 * runs a fresh agent to the right answer.
 */
export async function expectKernelHealthy(kernel: Kernel): Promise<void> {
  await waitFor(() => kernel.stats().agents === 0 && kernel.stats().isolates === 0, 'every agent ended and disposed');
  expect(kernel.agents()).toEqual([]);
  const fresh = await kernel.run({ code: 'export default async (n) => n * 2', input: 21 });
  expect(fresh, JSON.stringify(fresh)).toMatchObject({ ok: true, value: 42 });
}
