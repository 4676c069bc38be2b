import { resolve } from 'node:path';
import type { Policy } from '../runtime/policy/policy.js';
import type { Tool } from '../runtime/tool-use/tool-contract.js';
import { createFsTools } from '../tools/fs.js';
import { createHttpTool, httpOptionsFromConfig, httpPolicySection } from '../tools/http.js';
import { createProcTool, procPolicySection } from '../tools/proc.js';

/**
 * The tools `isokernel run` and `isokernel rollback` register: fs confined to `roots` (default the current
 * directory), proc with the programs the policy's `tools.proc` allows (none by default), and http with the
 * policy's `tools.http` settings. Registration grants nothing: the policy's capabilities still decide what
 * each agent may touch. `state` names the kernel's own files (store directory, audit log): the fs tools
 * never touch them, since the default root (the current directory) holds the default store. Programs the
 * policy's `proc.exec` rules name without a `tools.proc.programs` entry are looked up on the host's PATH
 * now; each one found nowhere is passed to `warn`. Throws TypeError naming the problem (a root that is not
 * a directory, a program path that is not an executable).
 */
export function builtinTools(
  policy: Policy,
  roots: readonly string[],
  state: readonly string[] = [],
  warn: (message: string) => void = () => {},
): Tool[] {
  const absolute = (roots.length === 0 ? [process.cwd()] : roots).map((root) => resolve(root));
  return [
    ...createFsTools({ roots: absolute, exclude: state.map((path) => resolve(path)) }),
    createProcTool({
      ...(procPolicySection.read(policy) ?? { programs: {} }),
      roots: absolute,
      policy,
      onWarning: warn,
    }),
    createHttpTool(httpOptionsFromConfig(httpPolicySection.read(policy) ?? {})),
  ];
}
