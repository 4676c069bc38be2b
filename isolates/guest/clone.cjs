// @ts-check
/**
 * structuredClone, inside the guest: @ungap/structured-clone (the `structured-clone` part, bundled from
 * node_modules and loaded with this one) does the copying; this wrapper gives it the web's signature and
 * errors. Maps, Sets, Dates, RegExps, BigInts, boxed primitives, errors, ArrayBuffers, typed arrays,
 * DataViews and cycles are copied; a function or a symbol is a DataCloneError; other objects (class
 * instances, promises) are copied as plain objects of their own enumerable properties.
 */
'use strict';

(function clone(/** @type {import('./kit').Kit} */ kit) {
  const { p } = kit;
  const library = kit.require('structured-clone');
  const copy = /** @type {(value: unknown) => unknown} */ (library.deserialize);
  const serialize = /** @type {(value: unknown) => unknown} */ (library.serialize);
  const UNABLE = 'unable to serialize ';

  const structuredClone = (/** @type {unknown[]} */ ...args) => {
    if (args.length === 0) throw new p.TypeError('structuredClone requires 1 argument');
    let records;
    try {
      records = serialize(args[0]);
    } catch (error) {
      const message = error instanceof p.TypeError ? p.String(error.message) : '';
      if (p.slice(message, 0, UNABLE.length) !== UNABLE) throw error;
      const DOMException = kit.require('events').DOMException;
      throw new DOMException(`${p.slice(message, UNABLE.length)} could not be cloned.`, 'DataCloneError');
    }
    return copy(records);
  };
  return { structuredClone };
});
