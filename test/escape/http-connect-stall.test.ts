// Attack: keep a kernel waiting on connections that never finish (red-team pass 81). An agent holding net.http for
// a host it controls makes that host drop connection attempts (a firewall DROP rule), or its name answer late, fires
// requests and returns. undici's request signal does not reach a connect in progress: each call outlived its abort
// by the whole connect timeout (6.6 s for an abort at 0.2 s), `kernel.close` spent its whole grace waiting and left
// the calls' intents without outcomes, and the CLI's process stayed up for the 30 s default timeout after the run.
// The connector now ends a connect in progress at the call's abort signal, destroying its socket.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createHttpTool } from '../../tools/http.js';
import { readAuditRecords } from '../helpers/audit-file.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { testToolContext } from '../helpers/tool-context.js';

// A listener that never accepts, its backlog filled: Linux then drops further SYNs (tcp_abort_on_overflow is 0 by
// default), so a connect to it hangs as one to a host that drops packets does. Node's own servers always accept.
const BLACKHOLE = `
import socket, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(0)
fill = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(s.getsockname())
    except BlockingIOError: pass
    fill.append(c)
print(s.getsockname()[1], flush=True)
time.sleep(120)
`;

let hole: ChildProcess;
let port = 0;
const dirs: string[] = [];
beforeAll(async () => {
  hole = spawn('python3', ['-c', BLACKHOLE], { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise<number>((resolve, reject) => {
    hole.stdout?.once('data', (data) => resolve(Number(String(data).trim())));
    hole.once('error', reject);
  });
});
afterAll(() => {
  hole.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

// The name `slow.test` resolves after 5 s, as an attacker's DNS server may answer; the lookup itself cannot be
// called off (neither can getaddrinfo), but the call must not wait for it.
const slowResolve = () => new Promise<string[]>((resolve) => setTimeout(() => resolve(['127.0.0.1']), 5_000));

const targets = {
  'a dropped TCP connect': () => ({ url: `http://127.0.0.1:${port}`, tool: {} }),
  'a late DNS answer': () => ({ url: `http://slow.test:${port}`, tool: { resolve: slowResolve } }),
};

describe.each(Object.entries(targets))('net.http stalled in %s', (_stall, target) => {
  it('a call ends at its abort, not at the connect timeout', async () => {
    const { url, tool } = target();
    const http = createHttpTool({ allowPrivate: ['127.0.0.1/32'], timeoutMs: 20_000, ...tool });
    const aborter = new AbortController();
    const started = performance.now();
    setTimeout(() => aborter.abort(), 200);
    const outcome = await Promise.resolve(
      runToolUse(prepareToolUse(http, { url: `${url}/x` }), { ...testToolContext({}), signal: aborter.signal }),
    ).then(
      () => 'settled ok',
      (error: { code?: string; message?: string }) => `${error.code}: ${error.message}`,
    );
    expect(outcome).toBe('E_TOOL_FAILED: net.http: request aborted');
    expect(performance.now() - started).toBeLessThan(2_000);
  }, 30_000);

  it.each(ISOLATION_MODES)(
    '%s: close after the agent fired requests and returned takes no grace, and every intent has its outcome',
    async (isolation) => {
      const { url, tool } = target();
      const dir = mkdtempSync(join(tmpdir(), 'isokernel-connect-stall-'));
      dirs.push(dir);
      const file = join(dir, 'audit.jsonl');
      const kernel = testKernel({
        isolation,
        tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'], ...tool })],
        policy: { capabilities: [{ action: 'net.http', resource: `${url}/**` }] },
        audit: { file },
      });
      const result = await kernel.run({
        code: `export default async () => {
        for (let i = 0; i < 3; i++) sys.tool('net.http', { url: '${url}/pay?i=' + i, method: 'POST', body: 'x' }).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 100));
      }`,
      });
      expect(result.ok).toBe(true);
      const started = performance.now();
      await kernel.close();
      // Before: 2.0 s, the whole grace, and three intents without outcomes.
      expect(performance.now() - started).toBeLessThan(1_500);
      const records = readAuditRecords(file).filter((record) => record.action === 'net.http');
      expect(records.filter((record) => record.phase === 'intent')).toHaveLength(3);
      expect(records.filter((record) => record.phase === 'outcome')).toHaveLength(3);
    },
    30_000,
  );
});
