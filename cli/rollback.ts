import { join } from 'node:path';
import { Kernel } from '../kernel-entry.js';
import { builtinTools } from './builtin-tools.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Io, terminalSafeJson } from './io.js';
import { kernelState } from './run.js';

export interface RollbackOptions {
  store: string;
  policy?: string;
  root: string[];
  force?: boolean;
  audit?: string;
}

/**
 * `isokernel rollback <recordId>`: undoes a recorded fs.write or fs.delete, authorized by the policy for the
 * host and audited. Exit 0 when undone, 1 when refused or failed, 2 on a usage error.
 */
export async function rollbackCommand(recordId: string, options: RollbackOptions, io: Io): Promise<number> {
  const auditFile = options.audit ?? join(options.store, 'audit.jsonl');
  let kernel: Kernel;
  try {
    kernel = Kernel.create({
      // Rollback runs no agent: no sandbox host is needed.
      isolation: 'inline',
      store: options.store,
      audit: { file: auditFile },
      ...(options.policy === undefined ? {} : { policy: options.policy }),
    });
  } catch (error) {
    io.err(`isokernel rollback: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_USAGE;
  }
  try {
    kernel.tools.add(
      ...builtinTools(kernel.policy, options.root, kernelState(options.store, auditFile, [options.policy]), {
        warn: (message) => io.err(`isokernel rollback: warning: ${message}`),
      }),
    );
    const result = await kernel.rollback(recordId, { force: options.force === true });
    io.out(terminalSafeJson(result));
    return result.status === 'OK' ? EXIT_OK : EXIT_FAILED;
  } catch (error) {
    io.err(`isokernel rollback: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_USAGE;
  } finally {
    await kernel.close();
  }
}
