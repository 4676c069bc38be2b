import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CapabilityState,
  DirectoryCapabilityState,
  MemoryCapabilityState,
} from '../../../runtime/capability/state.js';
import { runNode, TSX_MODULE_ARGS } from '../../helpers/node-process.js';

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'isokernel-state-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;

describe.each([
  ['memory', () => new MemoryCapabilityState()],
  ['directory', () => DirectoryCapabilityState.open(join(base, 'store'))],
] as const)('%s state', (_name, make: () => CapabilityState) => {
  it('keeps one root key, revocations and counters', () => {
    const state = make();
    const key = state.rootKey();
    expect(state.rootKey()).toBe(key);
    expect(state.revokedIds().has(ID_A)).toBe(false);
    state.addRevocation(ID_A);
    state.addRevocation(ID_A);
    expect(state.revokedIds().has(ID_A)).toBe(true);
    expect(state.usedCount(ID_B)).toBe(0);
    state.recordUses([
      [ID_A, 1],
      [ID_B, 7],
    ]);
    expect(state.usedCount(ID_A)).toBe(1);
    expect(state.usedCount(ID_B)).toBe(7);
  });

  it('refuses malformed ids and counts (host misuse)', () => {
    const state = make();
    expect(() => state.addRevocation('../../etc/passwd')).toThrow(TypeError);
    expect(() => state.recordUses([['A'.repeat(64), 1]])).toThrow(TypeError);
    expect(() => state.recordUses([[ID_A, -1]])).toThrow(RangeError);
    expect(() => state.recordUses([[ID_A, 1.5]])).toThrow(RangeError);
    expect(state.usedCount(ID_A)).toBe(0);
  });
});

describe('directory state', () => {
  it('creates the store 0700 and the root key 0600, and reloads everything', () => {
    const dir = join(base, 'store');
    const first = DirectoryCapabilityState.open(dir);
    const key = first.rootKey();
    first.addRevocation(ID_A);
    first.recordUses([[ID_B, 3]]);
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'revoked'))).toBe(0o700);
    expect(mode(join(dir, 'root.key'))).toBe(0o600);
    expect(mode(join(dir, 'uses.log'))).toBe(0o600);
    expect(readFileSync(join(dir, 'uses.log'), 'utf8')).toBe(`${ID_B} 3\n`);
    for (const sub of ['', 'revoked']) {
      expect(readdirSync(join(dir, sub)).filter((name) => name.startsWith('.tmp-'))).toEqual([]);
    }

    const second = DirectoryCapabilityState.open(dir);
    expect(second.rootKey().publicKey).toEqual(key.publicKey);
    expect(second.rootKey().exportSeed()).toEqual(key.exportSeed());
    expect(second.revokedIds().has(ID_A)).toBe(true);
    expect(second.usedCount(ID_B)).toBe(3);
  });

  it('two stores opened on one directory agree on the root key (first writer wins)', () => {
    const dir = join(base, 'store');
    const a = DirectoryCapabilityState.open(dir);
    const b = DirectoryCapabilityState.open(dir);
    expect(a.rootKey().publicKey).toEqual(b.rootKey().publicKey);
  });

  it('removes temp files left by a crash and ignores foreign names', () => {
    const dir = join(base, 'store');
    DirectoryCapabilityState.open(dir).recordUses([[ID_A, 2]]);
    writeFileSync(join(dir, '.tmp-123-abc'), `${ID_A} 999\n`);
    writeFileSync(join(dir, 'README'), 'not a counter');
    const state = DirectoryCapabilityState.open(dir);
    expect(readdirSync(dir).sort()).toEqual(['README', 'revoked', 'uses.log']);
    expect(state.usedCount(ID_A)).toBe(2);
  });

  it('appends one line per counted link a use, and rewrites the log to one line an id at open', () => {
    const dir = join(base, 'store');
    const state = DirectoryCapabilityState.open(dir);
    state.recordUses([
      [ID_A, 1],
      [ID_B, 1],
    ]);
    state.recordUses([
      [ID_A, 2],
      [ID_B, 2],
    ]);
    expect(readFileSync(join(dir, 'uses.log'), 'utf8')).toBe(`${ID_A} 1\n${ID_B} 1\n${ID_A} 2\n${ID_B} 2\n`);
    // The largest count wins, wherever its line is.
    writeFileSync(join(dir, 'uses.log'), `${ID_A} 9\n${ID_A} 3\n`);
    expect(DirectoryCapabilityState.open(dir).usedCount(ID_A)).toBe(9);
    expect(readFileSync(join(dir, 'uses.log'), 'utf8')).toBe(`${ID_A} 9\n`);
  });

  it('drops a torn last append (no newline) and appends after it on a line of its own', () => {
    const dir = join(base, 'store');
    DirectoryCapabilityState.open(dir).recordUses([[ID_A, 4]]);
    writeFileSync(join(dir, 'uses.log'), `${ID_A} 4\n${ID_B} 7`, { flag: 'w' });
    const state = DirectoryCapabilityState.open(dir);
    expect(state.usedCount(ID_A)).toBe(4);
    expect(state.usedCount(ID_B)).toBe(0);
    state.recordUses([[ID_B, 1]]);
    expect(DirectoryCapabilityState.open(dir).usedCount(ID_B)).toBe(1);
    expect(readFileSync(join(dir, 'uses.log'), 'utf8')).toBe(`${ID_A} 4\n${ID_B} 1\n`);
  });

  it('reads and folds in the counter files of the format before uses.log', () => {
    const dir = join(base, 'store');
    DirectoryCapabilityState.open(dir);
    mkdirSync(join(dir, 'uses'), { mode: 0o700 });
    writeFileSync(join(dir, 'uses', ID_A), '5\n', { mode: 0o600 });
    writeFileSync(join(dir, 'uses', ID_B), '2\n', { mode: 0o600 });
    writeFileSync(join(dir, 'uses.log'), `${ID_B} 6\n`);
    const state = DirectoryCapabilityState.open(dir);
    expect([state.usedCount(ID_A), state.usedCount(ID_B)]).toEqual([5, 6]);
    expect(readdirSync(join(dir, 'uses'))).toEqual([]);
    expect(readFileSync(join(dir, 'uses.log'), 'utf8').split('\n').sort()).toEqual(['', `${ID_A} 5`, `${ID_B} 6`]);
  });

  it('rewrites a long log while in use, keeping every count', () => {
    const dir = join(base, 'store');
    const state = DirectoryCapabilityState.open(dir);
    // 200 uses of a 100-link chain append 1.4 MB and pass the 1 MiB mark: the log is rewritten on the way.
    const ids = Array.from({ length: 100 }, (_, i) => i.toString(16).padStart(64, '0'));
    for (let used = 1; used <= 200; used++) state.recordUses(ids.map((id) => [id, used] as const));
    expect(statSync(join(dir, 'uses.log')).size).toBeLessThan(500_000);
    const reopened = DirectoryCapabilityState.open(dir);
    expect(ids.map((id) => reopened.usedCount(id))).toEqual(ids.map(() => 200));
  });

  it('refuses a store it cannot trust', () => {
    mkdirSync(join(base, 'open'));
    chmodSync(join(base, 'open'), 0o755);
    expect(() => DirectoryCapabilityState.open(join(base, 'open'))).toThrow(/0700/);

    mkdirSync(join(base, 'real'), { mode: 0o700 });
    symlinkSync(join(base, 'real'), join(base, 'link'));
    expect(() => DirectoryCapabilityState.open(join(base, 'link'))).toThrow(/not a directory/);

    const dir = join(base, 'store');
    DirectoryCapabilityState.open(dir).rootKey();
    chmodSync(join(dir, 'root.key'), 0o644);
    expect(() => DirectoryCapabilityState.open(dir).rootKey()).toThrow(/0600/);

    const corrupt = join(base, 'corrupt');
    DirectoryCapabilityState.open(corrupt);
    writeFileSync(join(corrupt, 'uses.log'), `${ID_A} lots\n`, { mode: 0o600 });
    expect(() => DirectoryCapabilityState.open(corrupt)).toThrow(/corrupt use log/);
    mkdirSync(join(corrupt, 'uses'), { mode: 0o700 });
    writeFileSync(join(corrupt, 'uses', ID_A), 'lots\n', { mode: 0o600 });
    expect(() => DirectoryCapabilityState.open(corrupt)).toThrow(/corrupt counter/);

    const badKey = join(base, 'bad-key');
    DirectoryCapabilityState.open(badKey);
    writeFileSync(join(badKey, 'root.key'), 'short\n', { mode: 0o600 });
    expect(() => DirectoryCapabilityState.open(badKey).rootKey()).toThrow(/not a root key/);

    expect(() => DirectoryCapabilityState.open('')).toThrow(TypeError);
  });
});

describe('directory state on a full disk (review 130)', () => {
  const stateModule = fileURLToPath(new URL('../../../runtime/capability/state.ts', import.meta.url));
  const repository = fileURLToPath(new URL('../../..', import.meta.url));
  // Runs `body` in a child whose files may not grow past `bytes` (RLIMIT_FSIZE): a write past it writes what fits and
  // the next fails with EFBIG, as a write to a full disk does with ENOSPC.
  const whenFull = (bytes: number, body: string) =>
    runNode([...TSX_MODULE_ARGS, `import { DirectoryCapabilityState } from ${JSON.stringify(stateModule)};\n${body}`], {
      cwd: repository,
      under: ['prlimit', `--fsize=${bytes}`],
    });
  const line = (id: string, used: number) => `${id} ${used}\n`;

  it('a rewrite of the use log the disk cannot hold fails the open and keeps every count', async () => {
    const dir = join(base, 'store');
    const state = DirectoryCapabilityState.open(dir);
    const ids = [ID_A, ID_B, 'c'.repeat(64)];
    for (let used = 1; used <= 3; used++) state.recordUses(ids.map((id) => [id, used] as const));
    // The rewrite is three lines (201 bytes); 150 fit. writeSync's short count went unseen: the open renamed the
    // cut log into place, and the next open read [3, 3, 0].
    const child = await whenFull(
      150,
      `try { DirectoryCapabilityState.open(${JSON.stringify(dir)}); console.log('opened'); } catch { console.log('refused'); }`,
    );
    expect(child.stdout.trim(), child.stderr).toBe('refused');
    const reopened = DirectoryCapabilityState.open(dir);
    expect(ids.map((id) => reopened.usedCount(id))).toEqual([3, 3, 3]);
  });

  it('an append the disk cannot hold fails the use and leaves the log as it was', async () => {
    const dir = join(base, 'store');
    DirectoryCapabilityState.open(dir).recordUses([[ID_A, 1]]);
    DirectoryCapabilityState.open(dir);
    expect(readFileSync(join(dir, 'uses.log'), 'utf8')).toBe(line(ID_A, 1));
    // 30 bytes of the next 67-byte line fit: left in the log, the next append in that process joined them into a
    // line the next open refused as corrupt.
    const child = await whenFull(
      67 + 30,
      `const state = DirectoryCapabilityState.open(${JSON.stringify(dir)});
      try { state.recordUses([[${JSON.stringify(ID_A)}, 2]]); console.log('recorded'); } catch { console.log('refused'); }`,
    );
    expect(child.stdout.trim(), child.stderr).toBe('refused');
    expect(readFileSync(join(dir, 'uses.log'), 'utf8')).toBe(line(ID_A, 1));
  });
});
