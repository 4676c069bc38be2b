import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Kernel, type KernelOptions, verifyAuditFile } from '../../index.js';
import { createMcpTool } from '../../tools/mcp.js';
import { testKernel } from './kernel.js';

/** The real stdio MCP server of the tests (written with the SDK): search, echo, fail, leak, env, crash, hang, sleep, busy, stall, flood. */
export const FIXTURE_SERVER = fileURLToPath(new URL('../fixtures/mcp/fixture-server.mjs', import.meta.url));

/** A `tools.mcp.servers` entry running the fixture with this Node. */
export function fixtureServer(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { command: process.execPath, args: [FIXTURE_SERVER], timeout_ms: 10_000, ...extra };
}

/**
 * A kernel with the test tools and `mcp.call` for `servers`, an audit file, and a policy of `rules` (plus
 * `labels`). Servers configured without `env` record what they are sent in one log: `sent()`. `verify()`
 * checks the audit log (after close).
 */
export function mcpKernel(options: {
  servers: Record<string, Record<string, unknown>>;
  rules: readonly Record<string, unknown>[];
  labels?: Record<string, unknown>;
  kernel?: Omit<KernelOptions, 'policy' | 'audit'>;
}): { kernel: Kernel; dir: string; log: string; sent(): string; verify(): boolean; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'isokernel-mcp-'));
  const log = join(dir, 'server-input.log');
  const audit = join(dir, 'audit.jsonl');
  const kernel = testKernel({
    ...options.kernel,
    audit: { file: audit },
    policy: { capabilities: options.rules, ...(options.labels === undefined ? {} : { labels: options.labels }) },
    tools: [...(options.kernel?.tools ?? []), createMcpTool({ servers: logged(options.servers, log) as never })],
  });
  return {
    kernel,
    dir,
    log,
    sent: () => {
      try {
        return readFileSync(log, 'utf8');
      } catch {
        return '';
      }
    },
    verify: () => verifyAuditFile(audit).ok,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function logged(
  servers: Record<string, Record<string, unknown>>,
  log: string,
): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(servers).map(([name, config]) => [
      name,
      config['env'] === undefined ? { ...config, env: { FIXTURE_LOG: log } } : config,
    ]),
  );
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
