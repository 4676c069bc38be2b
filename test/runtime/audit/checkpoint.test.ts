import { describe, expect, it } from 'vitest';
import {
  ADOPTED_CHECKPOINT_DOMAIN,
  CHECKPOINT_DOMAIN,
  checkpointMessage,
  encodeCheckpointLine,
  parseCheckpointLine,
  signCheckpoint,
  trustedKeySet,
  verifyCheckpointSignature,
} from '../../../runtime/audit/checkpoint.js';
import { EMPTY_ROOT } from '../../../runtime/audit/merkle.js';
import { verifySignature } from '../../../runtime/capability/signing-key.js';
import { canonicalJson } from '../../../runtime/core/canonical-json.js';
import { KERNEL_KEY, KERNEL_KEY_HEX, OTHER_KEY } from '../../helpers/audit-log.js';

const ROOT = 'ab'.repeat(32);
const statement = { size: 10, root: ROOT, time: 1_735_689_600_000, every: 4 };

describe('audit-checkpoint', () => {
  it('an adopted count signs under a domain of its own and round-trips through its line (pass 132, review 135)', () => {
    const adopted = signCheckpoint(KERNEL_KEY, { ...statement, adopted: 3 });
    expect(Buffer.from(checkpointMessage({ ...statement, adopted: 3 })).toString('utf8')).toBe(
      `${ADOPTED_CHECKPOINT_DOMAIN}\n10\n${ROOT}\n1735689600000\n4\n3\n`,
    );
    const line = encodeCheckpointLine(adopted);
    expect(line.startsWith('{"adopted":3,')).toBe(true);
    expect(parseCheckpointLine(line)).toEqual({ ok: true, checkpoint: adopted });
    // Neither kind of signature stands for the other, and the count is signed: it cannot be dropped, added or moved.
    const { adopted: _dropped, ...plain } = adopted;
    expect(verifyCheckpointSignature(plain)).toBe(false);
    expect(verifyCheckpointSignature({ ...signCheckpoint(KERNEL_KEY, statement), adopted: 3 })).toBe(false);
    expect(verifyCheckpointSignature({ ...adopted, adopted: 2 })).toBe(false);
    for (const value of ['true', 'false', '0', '11', '1.5', '-1', '"3"']) {
      expect(parseCheckpointLine(line.replace('"adopted":3', `"adopted":${value}`)).ok, value).toBe(false);
    }
    expect(() => signCheckpoint(KERNEL_KEY, { ...statement, adopted: 0 })).toThrow(RangeError);
    expect(() => signCheckpoint(KERNEL_KEY, { ...statement, adopted: 11 })).toThrow(RangeError);
  });

  it('signs a domain-separated message over size, root, time and interval', () => {
    const checkpoint = signCheckpoint(KERNEL_KEY, statement);
    expect(checkpoint).toMatchObject({ ...statement, key: KERNEL_KEY_HEX });
    const message = Buffer.from(checkpointMessage(statement)).toString('utf8');
    expect(message).toBe(`${CHECKPOINT_DOMAIN}\n10\n${ROOT}\n1735689600000\n4\n`);
    expect(
      verifySignature(KERNEL_KEY.publicKey, checkpointMessage(statement), Buffer.from(checkpoint.signature, 'hex')),
    ).toBe(true);
    expect(verifyCheckpointSignature(checkpoint)).toBe(true);
    expect(Object.isFrozen(checkpoint)).toBe(true);
  });

  it('fails the signature when any signed field or the key changes', () => {
    const checkpoint = signCheckpoint(KERNEL_KEY, statement);
    for (const change of [
      { size: 11 },
      { root: 'cd'.repeat(32) },
      { time: statement.time + 1 },
      { every: 5 },
      { key: Buffer.from(OTHER_KEY.publicKey).toString('hex') },
      { signature: '00'.repeat(64) },
      { signature: 'zz' },
      { key: 'ab' },
    ]) {
      expect(verifyCheckpointSignature({ ...checkpoint, ...change })).toBe(false);
    }
    expect(verifyCheckpointSignature(null as never)).toBe(false);
  });

  it('checks key and signature like capability tokens: S + L and a small-order key never verify', () => {
    const checkpoint = signCheckpoint(KERNEL_KEY, statement);
    expect(verifyCheckpointSignature(checkpoint)).toBe(true);
    // S + L: the same scalar mod L, so OpenSSL's equation still holds; the rule refuses S >= L.
    const signature = Buffer.from(checkpoint.signature, 'hex');
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(signature[32 + i]!);
    s += 2n ** 252n + 27742317777372353535851937790883648493n;
    for (let i = 0; i < 32; i++) signature[32 + i] = Number((s >> BigInt(8 * i)) & 255n);
    expect(verifyCheckpointSignature({ ...checkpoint, signature: signature.toString('hex') })).toBe(false);
    const identity = `01${'00'.repeat(31)}`;
    expect(
      verifyCheckpointSignature({ ...checkpoint, key: identity, signature: `${identity}${'00'.repeat(32)}` }),
    ).toBe(false);
  });

  it('stores checkpoints as strict canonical lines', () => {
    const checkpoint = signCheckpoint(KERNEL_KEY, statement);
    const line = encodeCheckpointLine(checkpoint);
    expect(line).toBe(canonicalJson({ ...checkpoint }));
    expect(parseCheckpointLine(line)).toEqual({ ok: true, checkpoint });
    const bad = [
      line.replace('{', '{"x":1,'),
      line.replace('{', '{"__proto__":{},'),
      line.replace('"every":4,', ''),
      line.replace('"size":10', '"size":10.0'),
      line.replace('"size":10', '"size":"10"'),
      line.replace(',"key"', ', "key"'),
      line.replace('"size":10', '"size":11'),
      line.replace(checkpoint.signature, checkpoint.signature.toUpperCase()),
      '[]',
      '{',
      'x'.repeat(5000),
    ];
    for (const candidate of bad) expect(parseCheckpointLine(candidate).ok).toBe(false);
    expect(() => parseCheckpointLine(1 as never)).toThrow(TypeError);
  });

  it('rejects malformed statements naming the field', () => {
    expect(() => signCheckpoint(KERNEL_KEY, { ...statement, size: -1 })).toThrow(RangeError);
    expect(() => signCheckpoint(KERNEL_KEY, { ...statement, size: 0 })).toThrow(/empty root/);
    expect(signCheckpoint(KERNEL_KEY, { ...statement, size: 0, root: EMPTY_ROOT }).size).toBe(0);
    expect(() => signCheckpoint(KERNEL_KEY, { ...statement, root: 'AB'.repeat(32) })).toThrow(/root/);
    expect(() => signCheckpoint(KERNEL_KEY, { ...statement, every: 0 })).toThrow(/every/);
    expect(() => signCheckpoint(KERNEL_KEY, { ...statement, time: 1.5 })).toThrow(/time/);
    expect(() => signCheckpoint({} as never, statement)).toThrow(/key/);
  });

  it('normalizes trusted keys from bytes or hex', () => {
    expect([...trustedKeySet([KERNEL_KEY.publicKey, KERNEL_KEY_HEX.toUpperCase()])]).toEqual([KERNEL_KEY_HEX]);
    expect(() => trustedKeySet([new Uint8Array(31)])).toThrow(RangeError);
    expect(() => trustedKeySet(['abc'])).toThrow(RangeError);
    expect(() => trustedKeySet([5 as never])).toThrow(TypeError);
    expect(() => trustedKeySet('abc' as never)).toThrow(/trustedKeys/);
  });
});
