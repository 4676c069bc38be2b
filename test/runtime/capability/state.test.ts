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
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CapabilityState,
  DirectoryCapabilityState,
  MemoryCapabilityState,
} from '../../../runtime/capability/state.js';

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
    expect(mode(join(dir, 'uses'))).toBe(0o700);
    expect(mode(join(dir, 'revoked'))).toBe(0o700);
    expect(mode(join(dir, 'root.key'))).toBe(0o600);
    expect(mode(join(dir, 'uses', ID_B))).toBe(0o600);
    expect(readFileSync(join(dir, 'uses', ID_B), 'utf8')).toBe('3\n');
    for (const sub of ['', 'uses', 'revoked']) {
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
    writeFileSync(join(dir, 'uses', '.tmp-123-abc'), '999\n');
    writeFileSync(join(dir, 'uses', 'README'), 'not a counter');
    const state = DirectoryCapabilityState.open(dir);
    expect(readdirSync(join(dir, 'uses')).sort()).toEqual(['README', ID_A]);
    expect(state.usedCount(ID_A)).toBe(2);
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
    writeFileSync(join(corrupt, 'uses', ID_A), 'lots\n', { mode: 0o600 });
    expect(() => DirectoryCapabilityState.open(corrupt)).toThrow(/corrupt counter/);

    const badKey = join(base, 'bad-key');
    DirectoryCapabilityState.open(badKey);
    writeFileSync(join(badKey, 'root.key'), 'short\n', { mode: 0o600 });
    expect(() => DirectoryCapabilityState.open(badKey).rootKey()).toThrow(/not a root key/);

    expect(() => DirectoryCapabilityState.open('')).toThrow(TypeError);
  });
});
