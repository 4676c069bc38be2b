import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { packageRoot } from '../runtime/core/package-root.js';
import type { Policy } from '../runtime/policy/policy.js';
import type { Tool } from '../runtime/tool-use/tool-contract.js';
import { createFsTools } from '../tools/fs.js';
import { realExcluded } from '../tools/fs-path.js';
import { createHttpTool, httpOptionsFromConfig, httpPolicySection } from '../tools/http.js';
import { createMcpTool, mcpPolicySection } from '../tools/mcp.js';
import { createModelTool, modelOptionsFromConfig, modelPolicySection } from '../tools/model.js';
import { createProcTool, procPolicySection } from '../tools/proc.js';

/**
 * The tools `isokernel run` and `isokernel rollback` register: fs confined to `roots` (default the current
 * directory), proc with the programs the policy's `tools.proc` allows (none by default), http with the
 * policy's `tools.http` settings, model.chat when `tools.model.base_url` names an endpoint, and mcp.call for
 * the policy's `tools.mcp.servers`. Registration grants nothing: the policy's capabilities still decide what
 * each agent may touch. `state` names the kernel's own files (store directory, audit log): neither the fs tools
 * nor a confined program touch them, nor the isokernel package itself, since the default root (the current
 * directory) holds the default store, and may hold the package. Programs the
 * policy's `proc.exec` rules name without a `tools.proc.programs` entry are looked up on the host's PATH
 * now; each one found nowhere is passed to `options.warn`. `options.model: false` leaves model.chat out. Throws TypeError naming the problem (a root that is not
 * a directory, a program path that is not an executable).
 */
export function builtinTools(
  policy: Policy,
  roots: readonly string[],
  state: readonly string[] = [],
  options: { readonly model?: boolean; readonly warn?: (message: string) => void } = {},
): Tool[] {
  const absolute = (roots.length === 0 ? [process.cwd()] : roots).map((root) => resolve(root));
  // The kernel's files both as their normalized path reads and as the system opens them (after a symlink, `..` is the
  // link target's parent: `realExcluded` on the path as given, absolute but not normalized). resolve() alone dropped
  // the `..` by string and excluded another file than the audit log the kernel writes (red-team pass 135).
  const kernelFiles = [...state.map((path) => resolve(path)), ...realExcluded(state.map(absoluteAsGiven))];
  const exclude = [...new Set(kernelFiles), ...kernelCode(absolute)];
  const tools = [
    ...createFsTools({ roots: absolute, exclude }),
    createProcTool({
      ...(procPolicySection.read(policy) ?? { programs: {} }),
      roots: absolute,
      exclude,
      policy,
      ...(options.warn === undefined ? {} : { onWarning: options.warn }),
    }),
    createHttpTool(httpOptionsFromConfig(httpPolicySection.read(policy) ?? {})),
  ];
  // model.chat when the policy names an endpoint (`tools.model.base_url`); `chat` registers its own.
  const model = modelPolicySection.read(policy);
  if (options.model !== false && model?.base_url !== undefined)
    tools.push(createModelTool(modelOptionsFromConfig(model)));
  // mcp.call when the policy configures MCP servers (each started on first use).
  const mcp = mcpPolicySection.read(policy);
  if (mcp !== undefined) tools.push(createMcpTool(mcp, { exclude }));
  return tools;
}

/** `path` made absolute from the current directory, its `..` and `.` kept for the system to resolve. */
export function absoluteAsGiven(path: string): string {
  return isAbsolute(path) ? path : `${process.cwd()}/${path}`;
}

/**
 * The isokernel package's files agents must not rewrite: with isokernel installed in the project the CLI roots
 * at, an agent could rewrite the kernel's code or replace the proc sandbox's helper, and the next run would run
 * what it wrote (red-team pass 93). When a root holds the package: the package, and every `node_modules` above it
 * inside a root, where its dependencies are hoisted (and pnpm's store, and `.bin`; review 94 planted code in
 * isolated-vm's module and the next run ran it). A root inside the package (a checkout's examples) keeps the rest,
 * less what the bin runs and the package's own manifest and dependencies.
 */
function kernelCode(roots: readonly string[]): string[] {
  const own = packageRoot();
  const real = (path: string): string => {
    try {
      return realpathSync(path);
    } catch {
      return path;
    }
  };
  const realRoots = roots.map(real);
  const inside = (path: string): boolean => realRoots.some((root) => path.startsWith(`${root}/`) || root === '/');
  if (!inside(own)) return ['dist', 'bin', 'native', 'node_modules', 'package.json'].map((part) => join(own, part));
  const out = [own];
  for (let dir = dirname(own); dir !== '/' && inside(dir); dir = dirname(dir)) {
    if (basename(dir) === 'node_modules') out.push(dir);
  }
  return out;
}
