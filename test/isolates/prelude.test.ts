import { describe, expect, it } from 'vitest';
import { GuestRealm } from '../../isolates/guest-realm.js';
import { PRELUDE_CONFIG } from '../../isolates/prelude-config.js';

// The prelude fingerprints the built-ins before agent code exists (isolates/guest/prelude.cjs) and reads a
// property whose __lookupGetter__ and __lookupSetter__ are both undefined with Reflect.get instead of through a
// descriptor object (an idle realm keeps that garbage). That reading must agree with getOwnPropertyDescriptor,
// which the check that compares against the fingerprint uses, on every property the fingerprint covers, in a
// realm exactly as agents get it: this runs the same walk over a fresh realm and compares the two readings.
const COMPARE = `(() => {
  const lookupGetter = Function.prototype.call.bind(Object.prototype.__lookupGetter__);
  const lookupSetter = Function.prototype.call.bind(Object.prototype.__lookupSetter__);
  const seen = new Set();
  const differ = [];
  let properties = 0;
  const record = (target) => {
    if (target === null || (typeof target !== 'object' && typeof target !== 'function') || seen.has(target)) return;
    seen.add(target);
    for (const key of Reflect.ownKeys(target)) {
      properties++;
      if (lookupGetter(target, key) !== undefined || lookupSetter(target, key) !== undefined) continue;
      const desc = Reflect.getOwnPropertyDescriptor(target, key);
      if (!Object.is(Reflect.get(target, key), desc.value) || desc.get !== undefined || desc.set !== undefined)
        differ.push(String(key));
    }
  };
  record(globalThis);
  for (const key of Reflect.ownKeys(globalThis)) {
    const value = Reflect.getOwnPropertyDescriptor(globalThis, key).value;
    if (value === globalThis.sys) continue;
    record(value);
    if (typeof value === 'function') record(value.prototype);
    if (value !== null && (typeof value === 'object' || typeof value === 'function')) record(Reflect.getPrototypeOf(value));
  }
  const arrayIterator = Reflect.getPrototypeOf([][Symbol.iterator]());
  record(arrayIterator);
  record(Reflect.getPrototypeOf(arrayIterator));
  record(Reflect.getPrototypeOf(new Map()[Symbol.iterator]()));
  record(Reflect.getPrototypeOf(new Set()[Symbol.iterator]()));
  record(Reflect.getPrototypeOf(''[Symbol.iterator]()));
  return JSON.stringify({ properties, differ });
})()`;

describe('the prelude’s fingerprint of the built-ins', () => {
  it('reads every property without a getter or setter as its descriptor does', async () => {
    const realm = await GuestRealm.build(32, PRELUDE_CONFIG);
    try {
      const { properties, differ } = JSON.parse(String(await realm.context.eval(COMPARE))) as {
        properties: number;
        differ: string[];
      };
      expect(properties).toBeGreaterThan(500);
      expect(differ).toEqual([]);
    } finally {
      realm.dispose();
    }
  });
});
