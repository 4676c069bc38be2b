import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  /**
   * Attack: edit a stored snapshot (widen its capabilities, lower its label, reset its quota use, swap its
   * program), truncate it, strip or forge its signature, or point restore at a file that is not a snapshot.
   * Every variant must be refused with E_BAD_SNAPSHOT before any agent runs.
   */
  let kernel: Kernel | undefined;
  let store = '';
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    rmSync(store, { recursive: true, force: true });
  });

  async function snapshot(): Promise<{ kernel: Kernel; id: string; file: string }> {
    store = mkdtempSync(join(tmpdir(), 'isokernel-tamper-'));
    kernel = testKernel({ isolation, store });
    const result = await kernel.run({
      code: `export default async () => { await sys.tool('echo', 1); return sys.snapshot({ n: 1 }); }`,
      label: ['secret'],
    });
    const id = String(result.ok ? result.value : '');
    return { kernel, id, file: join(store, 'snapshots', `${id}.json`) };
  }

  type Envelope = { id: string; body: string; signature: string };

  const tamperings: [string, (envelope: Envelope) => string][] = [
    ['the label lowered in the body', (e) => JSON.stringify({ ...e, body: e.body.replace('"secret"', '"public"') })],
    ['the quota use reset', (e) => JSON.stringify({ ...e, body: e.body.replace('"tool_calls":1', '"tool_calls":0') })],
    ['the signature removed', (e) => JSON.stringify({ id: e.id, body: e.body })],
    ['the signature forged', (e) => JSON.stringify({ ...e, signature: 'A'.repeat(86) })],
    ['the file truncated', (e) => JSON.stringify(e).slice(0, 40)],
    ['an empty file', () => ''],
    ['not JSON', () => '\u0000\u0001binary'],
    ['an extra field', (e) => JSON.stringify({ ...e, extra: true })],
  ];

  describe('snapshot tampering', () => {
    for (const [what, tamper] of tamperings) {
      it(`${what}: E_BAD_SNAPSHOT and nothing runs`, async () => {
        const { kernel, id, file } = await snapshot();
        const envelope = JSON.parse(readFileSync(file, 'utf8')) as Envelope;
        writeFileSync(file, tamper(envelope));
        await expect(kernel.restore(id)).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT' });
        expect(kernel.live()).toEqual([]);
      });
    }

    it('a body re-hashed under a new id is not signed by the kernel', async () => {
      const { kernel, file } = await snapshot();
      const envelope = JSON.parse(readFileSync(file, 'utf8')) as Envelope;
      const body = envelope.body.replace('"secret"', '"public"');
      const { createHash } = await import('node:crypto');
      const id = createHash('sha256').update(body).digest('hex');
      writeFileSync(join(store, 'snapshots', `${id}.json`), JSON.stringify({ ...envelope, id, body }));
      await expect(kernel.restore(id)).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT', message: /not signed/ });
    });

    it('a snapshot whose program blob was swapped is refused', async () => {
      const { kernel, id } = await snapshot();
      const decoded = await kernel.inspectSnapshot(id);
      const blob = join(store, 'blobs', decoded.program.id.slice(0, 2), decoded.program.id);
      writeFileSync(blob, 'export default async () => "evil"');
      await expect(kernel.restore(id)).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT', message: /program/ });
    });

    // SECURITY.md guarantee 10: the signature is checked against this kernel's root key, not any valid one. A
    // snapshot that another kernel signed (a second store on the same host, a copy from another machine) is a
    // well-formed, content-addressed, validly signed file: only the key tells it apart.
    it("a snapshot validly signed by another kernel's root key is refused E_BAD_SNAPSHOT", async () => {
      const { kernel: signer, id, file } = await snapshot();
      const program = (await signer.inspectSnapshot(id)).program.id;
      const other = mkdtempSync(join(tmpdir(), 'isokernel-tamper-other-'));
      const receiver = testKernel({ isolation, store: other });
      try {
        // The snapshot and its program blob, byte for byte, where the receiver's own store keeps its own.
        mkdirSync(join(other, 'snapshots'), { recursive: true });
        copyFileSync(file, join(other, 'snapshots', `${id}.json`));
        mkdirSync(join(other, 'blobs', program.slice(0, 2)), { recursive: true });
        copyFileSync(
          join(store, 'blobs', program.slice(0, 2), program),
          join(other, 'blobs', program.slice(0, 2), program),
        );
        await expect(receiver.restore(id)).rejects.toMatchObject({ code: 'E_BAD_SNAPSHOT', message: /not signed/ });
        expect(receiver.live()).toEqual([]);
        expect(receiver.stats().agents).toBe(0);
        // The same bytes are a valid snapshot for the kernel that signed them.
        const restored = await signer.restore(id);
        expect(await restored.result).toMatchObject({ ok: true });
      } finally {
        await receiver.close();
        rmSync(other, { recursive: true, force: true });
      }
    });
  });
});
