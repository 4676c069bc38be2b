// Attack: an agent looks for the kernel's private key or a capability's signed bytes among everything it can
// reach: every object from its global scope (own properties and symbols, prototypes, array buffers), what its
// capabilities and its audit records say, and a child's view of the capabilities it was handed. The kernel keeps
// keys and token bytes on the host and gives an agent only ids and summaries (SECURITY.md), so neither the root
// key's seed in any spelling nor a signature-sized value is anywhere in reach, in either tier.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Walks every value reachable from its roots by own data properties (getters are not called: some throw by
// design) and prototypes; returns every string and every buffer's bytes as hex, one a line.
const WALK = `function walk(roots) {
  const seen = new Set();
  const out = [];
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const stack = [...roots];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') { out.push(value); continue; }
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) continue;
    seen.add(value);
    try {
      if (value instanceof ArrayBuffer) out.push(hex(new Uint8Array(value)));
      else if (ArrayBuffer.isView(value)) out.push(hex(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)));
    } catch {}
    try { stack.push(Object.getPrototypeOf(value)); } catch {}
    let keys = [];
    try { keys = Reflect.ownKeys(value); } catch {}
    for (const key of keys) {
      if (typeof key === 'string') out.push(key);
      let descriptor;
      try { descriptor = Object.getOwnPropertyDescriptor(value, key); } catch {}
      if (descriptor !== undefined && 'value' in descriptor) stack.push(descriptor.value);
    }
  }
  return out;
}`;

const CHILD = `${WALK}
export default async () => walk([globalThis, await sys.caps(), await sys.audit({ after: -1, limit: 1000 })]).join('\\n');`;

const PARENT = `${WALK}
export default async () => {
  const child = await sys.spawn({ code: ${JSON.stringify(CHILD)}, caps: [{ action: 'echo', resource: 'echo', max_uses: 3 }] });
  await sys.tool('echo', { text: 'x' });
  const seen = walk([globalThis, await sys.caps(), await sys.audit({ after: -1, limit: 1000 })]);
  return [seen.join('\\n'), await sys.join(child)];
}`;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it("finds neither the root key's seed nor signed bytes anywhere an agent can reach", async () => {
    const store = mkdtempSync(join(tmpdir(), 'isokernel-key-reach-'));
    dirs.push(store);
    const kernel = testKernel({
      isolation,
      store,
      policy: {
        capabilities: [
          { action: 'echo', resource: 'echo' },
          { action: 'agent.spawn', resource: '*' },
        ],
      },
    });
    try {
      const result = await kernel.run({ code: PARENT });
      expect(result.ok, JSON.stringify(result).slice(0, 500)).toBe(true);
      const [parent, child] = (result as { value: [string, string] }).value;
      const seed = Buffer.from(readFileSync(join(store, 'root.key'), 'utf8').trim(), 'base64url');
      expect(seed.length).toBe(32);
      const reached = `${parent}\n${child}`;
      // The walk reached real things: the guest API, and hashes from the agents' audit records.
      expect(reached).toContain('handoff');
      const hashes = kernel.audit.records().map((record) => record.hash);
      expect(hashes.filter((hash) => reached.includes(hash)).length).toBeGreaterThan(2);
      for (const spelling of [seed.toString('hex'), seed.toString('base64'), seed.toString('base64url')]) {
        expect(reached.toLowerCase()).not.toContain(spelling.toLowerCase().replace(/=+$/, ''));
      }
      // No Ed25519 signature (64 bytes) in hex, whatever signed it.
      expect(reached).not.toMatch(/[0-9a-f]{128}/i);
    } finally {
      await kernel.close();
    }
  }, 60_000);
});
