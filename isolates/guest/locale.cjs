// @ts-check
/**
 * A fixed clock zone and locale for agents: UTC and en-US, whatever the host's TZ, LANG and LC_ALL say.
 *
 * V8 takes the local time zone and the default locale from the process (ICU reads TZ and LANG), and an
 * inline kernel must not change its embedding host's own. So the guest patches its own realm instead,
 * before agent code runs: Date's local-time methods become their UTC twins (getTimezoneOffset() is 0,
 * toString() ends in "GMT+0000 (Coordinated Universal Time)"), `new Date(y, m, ...)` and Date.parse read
 * a date-time without a zone as UTC, and every Intl constructor and locale-sensitive method that would use
 * the default locale (or, for dates, the default time zone) gets en-US (and UTC) instead. An agent that asks
 * for a locale or a zone by name gets it. The original Date constructor is replaced and unreachable.
 */
'use strict';

(function locale(/** @type {import('./kit').Kit} */ kit) {
  const { p } = kit;
  const LOCALE = 'en-US';
  const ZONE = 'UTC';
  const ZONE_TEXT = 'GMT+0000 (Coordinated Universal Time)';
  const Original = p.Date;
  const proto = Original.prototype;
  const intl = p.Intl;

  /** @type {(target: any, name: PropertyKey) => Function} */
  const method = (target, name) => /** @type {PropertyDescriptor} */ (p.getOwnPropertyDescriptor(target, name)).value;
  // Installs `fn` as `target[name]` with the given length. A realm runs this some forty times before any agent
  // code, so it defines only what differs (defineProperty on a function's name or length is slow in V8).
  /** @type {(target: object, name: string, length: number, fn: Function | undefined) => void} */
  const replace = (target, name, length, fn) => {
    if (fn === undefined) return;
    if (fn.name !== name) p.defineProperty(fn, 'name', kit.descriptor({ value: name, configurable: true }));
    if (fn.length !== length) p.defineProperty(fn, 'length', kit.descriptor({ value: length, configurable: true }));
    /** @type {any} */ (target)[name] = fn;
  };
  const getTime = method(proto, 'getTime');
  const setTime = method(proto, 'setTime');
  const toUTCString = method(proto, 'toUTCString');
  const setUTCFullYear = method(proto, 'setUTCFullYear');
  const originalParse = Original.parse;
  const originalUTC = Original.UTC;
  const originalNow = Original.now;
  const getTimezoneOffset = method(proto, 'getTimezoneOffset');

  // Local-time getters and setters are their UTC twins.
  const FIELDS = ['FullYear', 'Month', 'Date', 'Day', 'Hours', 'Minutes', 'Seconds', 'Milliseconds'];
  for (let i = 0; i < FIELDS.length; i++) {
    const field = FIELDS[i];
    for (const kind of ['get', 'set']) {
      const local = `${kind}${field}`;
      if (p.getOwnPropertyDescriptor(proto, local) === undefined) continue;
      const utc = method(proto, `${kind}UTC${field}`);
      replace(
        proto,
        local,
        utc.length,
        {
          /** @param {unknown[]} args */
          [local](...args) {
            return p.apply(utc, this, args);
          },
        }[local],
      );
    }
  }
  replace(
    proto,
    'getTimezoneOffset',
    0,
    {
      getTimezoneOffset() {
        const time = p.apply(getTime, this, []);
        return p.isNaN(time) ? Number.NaN : 0;
      },
    }.getTimezoneOffset,
  );
  // Annex B.
  replace(
    proto,
    'getYear',
    0,
    {
      getYear() {
        const time = p.apply(getTime, this, []);
        return p.isNaN(time) ? Number.NaN : p.apply(method(proto, 'getUTCFullYear'), this, []) - 1900;
      },
    }.getYear,
  );
  replace(
    proto,
    'setYear',
    1,
    {
      /** @param {unknown} year */
      setYear(year) {
        const time = p.apply(getTime, this, []);
        let y = p.Number(year);
        if (p.isNaN(y)) return p.apply(setTime, this, [Number.NaN]);
        y = p.trunc(y);
        if (y >= 0 && y <= 99) y += 1900;
        if (p.isNaN(time)) p.apply(setTime, this, [0]);
        return p.apply(setUTCFullYear, this, [y]);
      },
    }.setYear,
  );

  // "Thu, 01 Jan 1970 00:00:00 GMT" to its parts, for the toString family.
  /** @type {(date: unknown) => string[] | undefined} */
  const parts = (date) => {
    const time = p.apply(getTime, date, []);
    if (p.isNaN(time)) return undefined;
    const text = p.apply(toUTCString, date, []);
    // weekday, day, month, year, time
    const match = p.regexpExec(/^(\w{3}), (\d\d) (\w{3}) (-?\d+) (\d\d:\d\d:\d\d) GMT$/, text);
    return match === null
      ? undefined
      : [match[1] ?? '', match[2] ?? '', match[3] ?? '', match[4] ?? '', match[5] ?? ''];
  };
  replace(
    proto,
    'toString',
    0,
    {
      toString() {
        const d = parts(this);
        return d === undefined ? 'Invalid Date' : `${d[0]} ${d[2]} ${d[1]} ${d[3]} ${d[4]} ${ZONE_TEXT}`;
      },
    }.toString,
  );
  replace(
    proto,
    'toDateString',
    0,
    {
      toDateString() {
        const d = parts(this);
        return d === undefined ? 'Invalid Date' : `${d[0]} ${d[2]} ${d[1]} ${d[3]}`;
      },
    }.toDateString,
  );
  replace(
    proto,
    'toTimeString',
    0,
    {
      toTimeString() {
        const d = parts(this);
        return d === undefined ? 'Invalid Date' : `${d[4]} ${ZONE_TEXT}`;
      },
    }.toTimeString,
  );

  // The locales an Intl service gets: the agent's, unless it gave none (or none its service supports,
  // where ICU would fall back to the host's default), then the fixed one.
  /** @type {(service: any, locales: unknown) => unknown} */
  const localesFor = (service, locales) => {
    if (locales === undefined) return LOCALE;
    const supported = p.apply(service.supportedLocalesOf, service, [locales]);
    return supported.length === 0 ? LOCALE : locales;
  };
  // Date-time options with the fixed zone unless the agent named one (the options object itself is left as
  // the agent made it: the zone is added on a fresh object that inherits from it).
  /** @type {(options: unknown) => unknown} */
  const zoned = (options) => {
    if (options === undefined) return { __proto__: null, timeZone: ZONE };
    if (options === null || (typeof options !== 'object' && typeof options !== 'function')) return options;
    if (/** @type {any} */ (options).timeZone !== undefined) return options;
    return p.create(options, { timeZone: { value: ZONE, enumerable: true } });
  };

  const NAMES = [
    'DateTimeFormat',
    'NumberFormat',
    'Collator',
    'PluralRules',
    'RelativeTimeFormat',
    'ListFormat',
    'DisplayNames',
    'Segmenter',
  ];
  /** @type {Record<string, any>} */
  const services = p.create(null);
  for (let i = 0; i < NAMES.length; i++) {
    const name = /** @type {string} */ (NAMES[i]);
    const service = /** @type {any} */ (intl)[name];
    if (typeof service !== 'function') continue;
    services[name] = service;
    const dates = name === 'DateTimeFormat';
    replace(intl, name, 0, makeConstructor(service, dates));
  }

  /** @type {(service: any, dates: boolean) => Function} */
  function makeConstructor(service, dates) {
    /** @type {any} */
    const fn = function (/** @type {unknown} */ locales, /** @type {unknown} */ options) {
      const args = [localesFor(service, locales), dates ? zoned(options) : options];
      return new.target === undefined ? p.apply(service, undefined, args) : p.construct(service, args, new.target);
    };
    p.defineProperty(fn, 'prototype', kit.descriptor({ value: service.prototype, writable: false }));
    p.defineProperty(service.prototype, 'constructor', kit.descriptor({ value: fn }));
    p.defineProperty(
      fn,
      'supportedLocalesOf',
      kit.descriptor({ value: service.supportedLocalesOf, writable: true, configurable: true }),
    );
    return fn;
  }

  /** @type {(target: object, name: string, length: number, service: string, dates: boolean) => void} */
  const localized = (target, name, length, service, dates) => {
    const original = method(target, name);
    const Service = services[service];
    replace(
      target,
      name,
      length,
      {
        /** @param {unknown} locales @param {unknown} options */
        [name](locales, options) {
          return p.apply(original, this, [localesFor(Service, locales), dates ? zoned(options) : options]);
        },
      }[name],
    );
  };
  localized(p.Number.prototype, 'toLocaleString', 0, 'NumberFormat', false);
  localized(BigInt.prototype, 'toLocaleString', 0, 'NumberFormat', false);
  localized(proto, 'toLocaleString', 0, 'DateTimeFormat', true);
  localized(proto, 'toLocaleDateString', 0, 'DateTimeFormat', true);
  localized(proto, 'toLocaleTimeString', 0, 'DateTimeFormat', true);
  const localeCompare = method(p.String.prototype, 'localeCompare');
  replace(
    p.String.prototype,
    'localeCompare',
    1,
    {
      /** @param {unknown} that @param {unknown} locales @param {unknown} options */
      localeCompare(that, locales, options) {
        return p.apply(localeCompare, this, [that, localesFor(services.Collator, locales), options]);
      },
    }.localeCompare,
  );
  for (const name of ['toLocaleLowerCase', 'toLocaleUpperCase']) {
    const original = method(p.String.prototype, name);
    replace(
      p.String.prototype,
      name,
      0,
      {
        /** @param {unknown} locales */
        [name](locales) {
          return p.apply(original, this, [localesFor(services.Collator, locales)]);
        },
      }[name],
    );
  }

  // Date.parse and new Date(string): a date-time without a zone is UTC (ISO date-only forms already are).
  const ZONE_WORD = /\b(?:GMT|UTC|UT|Z|[ECMP][SD]T)\b/i;
  const OFFSET = /(?:\d|\s)(?:Z|[+-]\d\d(?::?\d\d)?)(?:\s|\(|$)/i;
  /** @type {(text: string) => number} */
  const parse = (text) => {
    const time = p.apply(originalParse, Original, [text]);
    if (p.isNaN(time)) return time;
    const clock = p.indexOf(text, ':');
    const explicit =
      clock < 0 || p.regexpExec(ZONE_WORD, text) !== null || p.regexpExec(OFFSET, p.slice(text, clock)) !== null;
    if (explicit) return time;
    // Read as host-local time; shift it back by the host's offset at that moment.
    const offset = p.apply(getTimezoneOffset, p.construct(Original, [time], Original), []);
    return time - offset * 60_000;
  };
  // ToPrimitive(value, default), for `new Date(value)`.
  /** @type {(value: any) => unknown} */
  const primitive = (value) => {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
    const exotic = value[p.SymbolToPrimitive];
    if (exotic !== undefined && exotic !== null) {
      const result = p.apply(exotic, value, ['default']);
      if (result !== null && (typeof result === 'object' || typeof result === 'function')) {
        throw new p.TypeError('Cannot convert object to primitive value');
      }
      return result;
    }
    for (let i = 0; i < 2; i++) {
      const fn = value[i === 0 ? 'valueOf' : 'toString'];
      if (typeof fn !== 'function') continue;
      const result = p.apply(fn, value, []);
      if (result === null || (typeof result !== 'object' && typeof result !== 'function')) return result;
    }
    throw new p.TypeError('Cannot convert object to primitive value');
  };
  /** @type {(value: unknown) => number} */
  const timeValueOf = (value) => {
    try {
      return p.apply(getTime, value, []);
    } catch {}
    const prim = primitive(value);
    return typeof prim === 'string' ? parse(prim) : p.Number(prim);
  };

  /** @type {any} */
  const DateShim = function DateConstructor(/** @type {unknown[]} */ ...args) {
    if (new.target === undefined) return p.apply(method(proto, 'toString'), p.construct(Original, [], Original), []);
    if (args.length === 0) return p.construct(Original, [], new.target);
    if (args.length === 1) return p.construct(Original, [timeValueOf(args[0])], new.target);
    return p.construct(Original, [p.apply(originalUTC, undefined, args)], new.target);
  };
  p.defineProperty(DateShim, 'name', kit.descriptor({ value: 'Date', configurable: true }));
  p.defineProperty(DateShim, 'length', kit.descriptor({ value: 7, configurable: true }));
  p.defineProperty(DateShim, 'prototype', kit.descriptor({ value: proto, writable: false }));
  p.defineProperty(proto, 'constructor', kit.descriptor({ value: DateShim, writable: true, configurable: true }));
  kit.methods(DateShim, {
    now: originalNow,
    UTC: originalUTC,
    parse: {
      /** @param {unknown} text */
      parse(text) {
        return parse(p.String(text));
      },
    }.parse,
  });
  p.defineProperty(DateShim.parse, 'length', kit.descriptor({ value: 1, configurable: true }));

  return { Date: DateShim };
});
