import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { cleanup, KERNEL_KEY_HEX, OTHER_KEY, tempDir, writeLog } from '../helpers/audit-log.js';

// The commander wiring of `isokernel`, in process (test/cli/run.test.ts runs the real bin).

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (text: string) => out.push(text), err: (text: string) => err.push(text) }, out, err };
}

describe('cli/main', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => cleanup(dir));

  // Red-team pass 132: `audit export` had no --key or --store, so a log rewritten and re-signed with a fresh key
  // exported with exit 0 and no warning.
  it('audit export pins the checkpoint key with --key or --store, as audit verify does, and warns without', async () => {
    // A log signed by a key other than the kernel's, as a rewritten and re-signed log is.
    const { path } = writeLog(dir, 6, { checkpointEvery: 4, key: OTHER_KEY });
    const otherHex = Buffer.from(OTHER_KEY.publicKey).toString('hex');
    const store = join(dir, 'store');
    mkdirSync(store);
    // The kernel's root key (the seed of KERNEL_KEY), as `isokernel run --store` keeps it.
    writeFileSync(join(store, 'root.key'), `${Buffer.from(new Uint8Array(32).fill(7)).toString('base64url')}\n`);
    const exportArgs = ['audit', 'export', path, '--format', 'agent-kernel'];
    for (const pin of [
      ['--key', KERNEL_KEY_HEX],
      ['--key', Buffer.from(KERNEL_KEY_HEX, 'hex').toString('base64url')],
      ['--store', store],
    ]) {
      const refused = capture();
      expect(await main([...exportArgs, ...pin], refused.io)).toBe(1);
      expect(refused.out).toEqual([]);
      expect(refused.err.join('\n')).toMatch(/does not verify at seq 0: .*untrusted key/);
      // verify says the same with the same options.
      expect(await main(['audit', 'verify', path, ...pin], capture().io)).toBe(1);
    }
    const own = capture();
    expect(await main([...exportArgs, '--key', KERNEL_KEY_HEX, '--key', otherHex], own.io)).toBe(0);
    expect(own.err).toEqual([]);
    expect(own.out.length).toBeGreaterThan(0);
    const unpinned = capture();
    expect(await main(exportArgs, unpinned.io)).toBe(0);
    expect(unpinned.out).toEqual(own.out);
    expect(unpinned.err).toEqual([
      `warning: checkpoint signer ${otherHex} is not pinned; pass the kernel public key to trust it`,
    ]);
    const verify = capture();
    expect(await main(['audit', 'verify', path], verify.io)).toBe(0);
    expect(verify.err).toContain(unpinned.err[0]);
    const badKey = capture();
    expect(await main([...exportArgs, '--key', 'nope'], badKey.io)).toBe(2);
    expect(badKey.err).toEqual(['isokernel audit export: --key nope is not a 32-byte key in hex or base64url']);
    expect(badKey.out).toEqual([]);
    const noStore = capture();
    expect(await main([...exportArgs, '--store', join(dir, 'none')], noStore.io)).toBe(2);
    expect(noStore.err).toEqual([`isokernel audit export: no root key in ${join(dir, 'none')}`]);
  });
});
