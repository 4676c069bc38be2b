// @ts-check
/**
 * console, inside the guest: every method formats its arguments here (printf-style %s %d %i %f %j %o %O %c
 * when the first argument is a string, otherwise Node-like inspection: strings bare at the top level,
 * objects to depth 2, Errors with their stack, Maps, Sets, Dates, typed arrays, cycles as [Circular]) and
 * sends one line with its level through the internal `console` syscall: a bounded `log` event for the host,
 * audited like `sys.log`, never the host's own console. Inspection reads own property descriptors (getters
 * are shown as [Getter], never run) and stops at MAX_CHARS, so a huge or cyclic value costs the agent a
 * bounded amount of its own CPU.
 */
'use strict';

(function consolePart(/** @type {import('./kit').Kit} */ kit) {
  const { p } = kit;
  const MAX_CHARS = 4096;
  const MAX_ITEMS = 100;
  const MAX_DEPTH = 2;

  // Output grows into `out`; `full` stops every walk once the line is as long as it may be.
  /** @typedef {{ text: string, full: boolean, seen: unknown[] }} Out */
  /** @type {(out: Out, text: string) => void} */
  const emit = (out, text) => {
    if (out.full) return;
    out.text += text;
    if (out.text.length >= MAX_CHARS) {
      out.text = `${p.slice(out.text, 0, MAX_CHARS)}…`;
      out.full = true;
    }
  };

  const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
  /** @type {(key: PropertyKey) => string} */
  const keyText = (key) => {
    if (typeof key === 'symbol') return `[${symbolText(key)}]`;
    const text = p.String(key);
    return p.regexpExec(IDENTIFIER, text) !== null ? text : quote(text);
  };
  /** @type {(s: symbol) => string} */
  const symbolText = (s) => {
    const description = p.getOwnPropertyDescriptor(p.Symbol.prototype, 'description')?.get;
    const text = description === undefined ? undefined : p.apply(description, s, []);
    return `Symbol(${text === undefined ? '' : text})`;
  };
  /** @type {(s: string) => string} */
  const quote = (s) => {
    let out = "'";
    for (let i = 0; i < s.length; i++) {
      const c = p.charCodeAt(s, i);
      if (c === 39) out += "\\'";
      else if (c === 92) out += '\\\\';
      else if (c === 10) out += '\\n';
      else if (c < 32) out += `\\x${p.padStart(p.numberToString(c, 16), 2, '0')}`;
      else out += p.fromCharCode(c);
      if (out.length > MAX_CHARS) break;
    }
    return `${out}'`;
  };
  /** @type {(value: unknown) => string} */
  const tagOf = (value) => p.slice(p.objectToString(value), 8, -1);
  /** @type {(fn: Function) => string} */
  const functionName = (fn) => {
    const name = p.getOwnPropertyDescriptor(fn, 'name')?.value;
    return typeof name === 'string' && name !== '' ? name : '(anonymous)';
  };
  // The name of the class that made `value` (its prototype's own constructor's name), or undefined.
  /** @type {(value: object) => string | undefined} */
  const className = (value) => {
    const proto = p.getPrototypeOf(value);
    if (proto === null) return '[Object: null prototype]';
    const ctor = p.getOwnPropertyDescriptor(proto, 'constructor')?.value;
    if (typeof ctor !== 'function') return undefined;
    const name = functionName(ctor);
    return name === 'Object' ? undefined : name;
  };
  /** @type {(value: unknown) => boolean} */
  const isDate = (value) => {
    try {
      p.dateGetTime(value);
      return true;
    } catch {
      return false;
    }
  };

  /** @type {(out: Out, value: unknown, depth: number, top: boolean) => void} */
  const inspect = (out, value, depth, top) => {
    if (out.full) return;
    switch (typeof value) {
      case 'string':
        emit(out, top ? value : quote(value));
        return;
      case 'number':
        emit(out, p.is(value, -0) ? '-0' : p.String(value));
        return;
      case 'bigint':
        emit(out, `${p.String(value)}n`);
        return;
      case 'symbol':
        emit(out, symbolText(value));
        return;
      case 'undefined':
        emit(out, 'undefined');
        return;
      case 'boolean':
        emit(out, value ? 'true' : 'false');
        return;
      case 'function': {
        emit(out, `[Function: ${functionName(value)}]`);
        return;
      }
    }
    if (value === null) {
      emit(out, 'null');
      return;
    }
    const object = /** @type {object} */ (value);
    for (let i = 0; i < out.seen.length; i++) {
      if (out.seen[i] === object) {
        emit(out, '[Circular]');
        return;
      }
    }
    if (object instanceof p.Error) {
      const stack = p.getOwnPropertyDescriptor(object, 'stack')?.value;
      if (typeof stack === 'string') emit(out, stack);
      else {
        const message = p.getOwnPropertyDescriptor(object, 'message')?.value;
        emit(out, `${className(object) ?? 'Error'}${typeof message === 'string' ? `: ${message}` : ''}`);
      }
      return;
    }
    if (isDate(object)) {
      const time = p.dateGetTime(object);
      emit(out, p.isNaN(time) ? 'Invalid Date' : p.dateToISOString(object));
      return;
    }
    const tag = tagOf(object);
    if (tag === 'RegExp') {
      let text = '[RegExp]';
      try {
        text = p.String(object);
      } catch {}
      emit(out, text);
      return;
    }
    if (depth > MAX_DEPTH) {
      emit(out, p.isArray(object) ? '[Array]' : `[${className(object) ?? 'Object'}]`);
      return;
    }
    p.push(out.seen, object);
    try {
      walk(out, object, tag, depth);
    } finally {
      p.pop(out.seen);
    }
  };

  /** @type {(out: Out, object: object, tag: string, depth: number) => void} */
  const walk = (out, object, tag, depth) => {
    let count = 0;
    let first = true;
    const item = (/** @type {() => void} */ write) => {
      if (out.full) return;
      if (count >= MAX_ITEMS) {
        if (count === MAX_ITEMS) emit(out, ', ...');
        count++;
        return;
      }
      emit(out, first ? ' ' : ', ');
      first = false;
      count++;
      write();
    };
    if (tag === 'Map') {
      const map = /** @type {Map<unknown, unknown>} */ (object);
      emit(out, `Map(${p.mapSize(map)}) {`);
      p.mapForEach(map, (entry, key) =>
        item(() => {
          inspect(out, key, depth + 1, false);
          emit(out, ' => ');
          inspect(out, entry, depth + 1, false);
        }),
      );
      emit(out, first ? '}' : ' }');
      return;
    }
    if (tag === 'Set') {
      const set = /** @type {Set<unknown>} */ (object);
      emit(out, `Set(${p.setSize(set)}) {`);
      p.setForEach(set, (entry) => item(() => inspect(out, entry, depth + 1, false)));
      emit(out, first ? '}' : ' }');
      return;
    }
    const typed = p.typedArrayName(object);
    const array = p.isArray(object);
    const keys = p.ownKeys(object);
    if (array || typed !== undefined) {
      const size = typed !== undefined ? /** @type {any} */ (object).length : /** @type {unknown[]} */ (object).length;
      emit(out, typed !== undefined ? `${typed}(${size}) [` : '[');
      for (let i = 0; i < size && !out.full && count <= MAX_ITEMS; i++) {
        const found = p.getOwnPropertyDescriptor(object, p.String(i));
        item(() => (found === undefined ? emit(out, '<empty>') : property(out, found, depth)));
      }
      for (let i = 0; i < keys.length && !out.full; i++) {
        const key = /** @type {PropertyKey} */ (keys[i]);
        if (typeof key === 'string' && (key === 'length' || p.String(p.Number(key) >>> 0) === key)) continue;
        entry(out, object, key, depth, item);
      }
      emit(out, first ? ']' : ' ]');
      return;
    }
    const name = className(object);
    const prefix =
      tag === 'ArrayBuffer' ? `ArrayBuffer { byteLength: ${p.arrayBufferByteLength(/** @type {any} */ (object))} ` : '';
    emit(out, prefix !== '' ? prefix : name === undefined ? '{' : `${name} {`);
    for (let i = 0; i < keys.length && !out.full; i++)
      entry(out, object, /** @type {PropertyKey} */ (keys[i]), depth, item);
    emit(out, prefix !== '' ? '}' : first ? '}' : ' }');
  };

  /** @type {(out: Out, object: object, key: PropertyKey, depth: number, item: (write: () => void) => void) => void} */
  const entry = (out, object, key, depth, item) => {
    const found = p.getOwnPropertyDescriptor(object, key);
    if (found === undefined || found.enumerable !== true) return;
    item(() => {
      emit(out, `${keyText(key)}: `);
      property(out, found, depth);
    });
  };
  /** @type {(out: Out, found: PropertyDescriptor, depth: number) => void} */
  const property = (out, found, depth) => {
    if (found.get !== undefined || found.set !== undefined) {
      emit(
        out,
        found.get !== undefined && found.set !== undefined
          ? '[Getter/Setter]'
          : found.get !== undefined
            ? '[Getter]'
            : '[Setter]',
      );
      return;
    }
    inspect(out, found.value, depth + 1, false);
  };

  /** @type {(args: unknown[]) => string} */
  const format = (args) => {
    /** @type {Out} */
    const out = { text: '', full: false, seen: [] };
    let next = 0;
    const first = args[0];
    if (typeof first === 'string' && args.length > 1) {
      next = 1;
      for (let i = 0; i < first.length && !out.full; i++) {
        const c = p.charCodeAt(first, i);
        if (c !== 37 || i + 1 >= first.length) {
          emit(out, p.fromCharCode(c));
          continue;
        }
        const spec = p.fromCharCode(p.charCodeAt(first, i + 1));
        if (spec === '%') {
          emit(out, '%');
          i++;
          continue;
        }
        if (next >= args.length || p.indexOf('sdifjoOc', spec) < 0) {
          emit(out, '%');
          continue;
        }
        i++;
        const arg = args[next++];
        if (spec === 's') inspect(out, arg, 1, typeof arg === 'string');
        else if (spec === 'd' || spec === 'i') {
          const n = typeof arg === 'bigint' ? arg : p.Number(typeof arg === 'symbol' ? Number.NaN : arg);
          emit(out, spec === 'i' && typeof n === 'number' ? p.String(p.trunc(n)) : p.String(n));
        } else if (spec === 'f') emit(out, p.String(p.Number(typeof arg === 'symbol' ? Number.NaN : arg)));
        else if (spec === 'j') {
          let text;
          try {
            text = p.JSONStringify(arg);
          } catch {
            text = '[Circular]';
          }
          emit(out, text === undefined ? 'undefined' : text);
        } else if (spec === 'c') {
          // CSS has no meaning here.
        } else inspect(out, arg, 0, false);
      }
    }
    for (let i = next; i < args.length && !out.full; i++) {
      if (i > 0) emit(out, ' ');
      inspect(out, args[i], 0, true);
    }
    return out.text;
  };

  let indent = '';
  /** @type {(level: string, text: string) => void} */
  const write = (level, text) => {
    if (indent !== '') {
      let indented = indent;
      for (let i = 0; i < text.length; i++) {
        const c = p.charCodeAt(text, i);
        indented += c === 10 ? `\n${indent}` : p.fromCharCode(c);
        if (indented.length > MAX_CHARS) break;
      }
      text = indented;
    }
    kit.send('console', [level, p.slice(text, 0, MAX_CHARS + 1)]);
  };
  /** @type {(level: string) => (...args: unknown[]) => void} */
  const logger =
    (level) =>
    (...args) =>
      write(level, format(args));

  /** @type {Map<unknown, unknown>} */
  const counts = new p.Map();
  /** @type {Map<unknown, unknown>} */
  const timers = new p.Map();
  const label = (/** @type {unknown} */ value) => (value === undefined ? 'default' : p.String(value));

  const console = {
    log: logger('log'),
    info: logger('info'),
    warn: logger('warn'),
    error: logger('error'),
    debug: logger('debug'),
    trace: (/** @type {unknown[]} */ ...args) => {
      const stack = p.String(p.getOwnPropertyDescriptor(new p.Error('trace'), 'stack')?.value ?? '');
      write('debug', `Trace: ${format(args)}${p.slice(stack, p.max(0, p.indexOf(stack, '\n')))}`);
    },
    dir: (/** @type {unknown} */ value) => {
      /** @type {Out} */
      const out = { text: '', full: false, seen: [] };
      inspect(out, value, 0, false);
      write('log', out.text);
    },
    dirxml: logger('log'),
    table: logger('log'),
    assert: (/** @type {unknown} */ condition, /** @type {unknown[]} */ ...args) => {
      if (condition) return;
      write('error', args.length === 0 ? 'Assertion failed' : `Assertion failed: ${format(args)}`);
    },
    count: (/** @type {unknown} */ name) => {
      const key = label(name);
      const n = /** @type {number} */ (p.mapGet(counts, key) ?? 0) + 1;
      p.mapSet(counts, key, n);
      write('info', `${key}: ${n}`);
    },
    countReset: (/** @type {unknown} */ name) => {
      p.mapDelete(counts, label(name));
    },
    time: (/** @type {unknown} */ name) => {
      p.mapSet(timers, label(name), kit.elapsed());
    },
    timeLog: (/** @type {unknown} */ name, /** @type {unknown[]} */ ...args) => {
      const key = label(name);
      const started = /** @type {number | undefined} */ (p.mapGet(timers, key));
      if (started === undefined) return write('warn', `No such label '${key}' for console.timeLog()`);
      write('info', `${key}: ${kit.elapsed() - started}ms${args.length > 0 ? ` ${format(args)}` : ''}`);
    },
    timeEnd: (/** @type {unknown} */ name) => {
      const key = label(name);
      const started = /** @type {number | undefined} */ (p.mapGet(timers, key));
      if (started === undefined) return write('warn', `No such label '${key}' for console.timeEnd()`);
      p.mapDelete(timers, key);
      write('info', `${key}: ${kit.elapsed() - started}ms`);
    },
    group: (/** @type {unknown[]} */ ...args) => {
      if (args.length > 0) write('log', format(args));
      indent += '  ';
    },
    groupCollapsed: (/** @type {unknown[]} */ ...args) => {
      if (args.length > 0) write('log', format(args));
      indent += '  ';
    },
    groupEnd: () => {
      indent = p.slice(indent, 2);
    },
    clear: () => {},
  };
  kit.methods(console, { [p.SymbolToStringTag]: 'console' });
  return { console };
});
