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

  // The locales an Intl service gets: the agent's, as supportedLocalesOf read them (once: a getter or proxy that
  // answers twice differently never reaches ECMA-402 itself), unless it gave none or none its service supports,
  // where ICU would fall back to the host's default: then the fixed one. ECMA-402's own lookup picks the first
  // supported locale of a list, so dropping the unsupported ones before it changes nothing else.
  /** @type {(service: any, locales: unknown) => unknown} */
  const localesFor = (service, locales) => {
    if (locales === undefined) return LOCALE;
    const supported = p.apply(service.supportedLocalesOf, service, [locales]);
    return supported.length === 0 ? LOCALE : supported;
  };
  const ObjectOf = Object;
  const localeToString = method(intl.Locale.prototype, 'toString');
  // The locales a case mapping gets. It reads only the first locale of a list (an unsupported one means the root
  // casing, never the default; later entries are never read or checked), and the default only when the list is
  // empty: the same reads here, once, handing ECMA-402 the one value read or the fixed locale.
  /** @type {(locales: unknown) => unknown} */
  const caseLocale = (locales) => {
    if (locales === undefined) return LOCALE;
    if (typeof locales === 'string' || locales === null) return locales;
    if (typeof locales !== 'object' && typeof locales !== 'function') return LOCALE;
    try {
      p.apply(localeToString, locales, []);
      return locales;
    } catch {}
    const list = /** @type {any} */ (locales);
    const length = +list.length;
    const end = p.isNaN(length) || length <= 0 ? 0 : p.min(p.floor(length), 9007199254740991);
    for (let k = 0; k < end; k++) {
      if (k in list) return [list[k]];
    }
    return LOCALE;
  };
  // Date-time options with the fixed zone unless the agent named one. ECMA-402 makes an object of a primitive
  // (with no timeZone: the host's zone); the zone is read here once and handed on as a data property of a fresh
  // object that inherits the rest from the agent's, which ECMA-402 reads once each as usual. The agent's object
  // is left as it made it. null throws TypeError in ECMA-402, as on any host.
  /** @type {(options: unknown) => unknown} */
  const zoned = (options) => {
    if (options === undefined) return { __proto__: null, timeZone: ZONE };
    if (options === null) return options;
    const object = ObjectOf(options);
    const zone = object.timeZone;
    return p.create(object, { timeZone: { value: zone === undefined ? ZONE : zone, enumerable: true } });
  };

  // V8's non-standard break iterator is in every context but Node's own realm (Node deletes it). It took the
  // host's LANG as its default locale inline (red-team pass 134: de-DE, ja-JP, fr-CA), so it goes here too.
  delete (/** @type {any} */ (intl).v8BreakIterator);
  // Every Intl service (a constructor with supportedLocalesOf) gets the fixed locale, found by walking Intl rather
  // than from a list: a list missed v8BreakIterator, and DurationFormat on Node 24 (pass 134). Only
  // DateTimeFormat also takes a time zone.
  /** @type {Record<string, any>} */
  const services = p.create(null);
  const members = p.ownKeys(intl);
  for (let i = 0; i < members.length; i++) {
    const name = members[i];
    if (typeof name !== 'string') continue;
    const service = /** @type {any} */ (intl)[name];
    if (typeof service !== 'function' || typeof service.supportedLocalesOf !== 'function') continue;
    services[name] = service;
    replace(intl, name, 0, makeConstructor(service, name === 'DateTimeFormat'));
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
          return p.apply(original, this, [caseLocale(locales)]);
        },
      }[name],
    );
  }

  // Date.parse and new Date(string): a date-time without a zone is UTC (ISO date-only forms already are).
  // Whether V8 reads a zone from a string is a matter of its own parser (src/date/dateparser-inl.h), not of
  // patterns: it skips parenthesised text, ignores zone words before the first number, reads "+5" after a time
  // as an offset, stops at a NUL, and reads the legacy forms without a time ("Jan 15 2024") as local too. So
  // readZone follows that parser step by step, as far as the zone goes, and a string V8 would read as local
  // time is parsed again with an explicit UTC marker: the same fields, read as UTC, as on a UTC host (a local
  // time in the host's DST gap or overlap too, which no offset subtracted afterwards gets right).
  const END = /** @type {number} */ (0);
  const NUMBER = /** @type {number} */ (1);
  const SYMBOL = /** @type {number} */ (2);
  const WORD = /** @type {number} */ (3);
  const SPACE = /** @type {number} */ (4);
  const UNKNOWN = /** @type {number} */ (5);
  const MONTH_NAME = /** @type {number} */ (1);
  const ZONE_NAME = /** @type {number} */ (2);
  const TIME_SEPARATOR = /** @type {number} */ (3);
  const AM_PM = /** @type {number} */ (4);
  const NONE = 2147483647;
  // V8's keyword table: [type, value] by lower-cased three-letter prefix (shorter keywords match whole words).
  /** @type {Record<string, number[]>} */
  const KEYWORDS = p.create(null);
  /** @type {[string, number, number][]} */
  const KEYWORD_LIST = [
    ['am', AM_PM, 0],
    ['pm', AM_PM, 12],
    ['ut', ZONE_NAME, 0],
    ['utc', ZONE_NAME, 0],
    ['z', ZONE_NAME, 0],
    ['gmt', ZONE_NAME, 0],
    ['cdt', ZONE_NAME, -5],
    ['cst', ZONE_NAME, -6],
    ['edt', ZONE_NAME, -4],
    ['est', ZONE_NAME, -5],
    ['mdt', ZONE_NAME, -6],
    ['mst', ZONE_NAME, -7],
    ['pdt', ZONE_NAME, -7],
    ['pst', ZONE_NAME, -8],
    ['t', TIME_SEPARATOR, 0],
  ];
  const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
  for (let i = 0; i < MONTHS.length; i++) KEYWORDS[/** @type {string} */ (MONTHS[i])] = [MONTH_NAME, i + 1];
  for (let i = 0; i < KEYWORD_LIST.length; i++) {
    const [word, type, value] = /** @type {[string, number, number]} */ (KEYWORD_LIST[i]);
    KEYWORDS[word] = [type, value];
  }
  /** @type {(x: number, lo: number, hi: number) => boolean} */
  const between = (x, lo, hi) => x >= lo && x <= hi;
  // V8's IsWhiteSpace (no line terminators): a word ends at one, even above 'A'.
  /** @type {(c: number) => boolean} */
  const space = (c) =>
    c === 32 ||
    c === 9 ||
    c === 11 ||
    c === 12 ||
    c === 0xa0 ||
    c === 0x1680 ||
    between(c, 0x2000, 0x200a) ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff;
  /**
   * How V8 reads `text`: undefined if it does not parse, else whether it reads a zone (or an ISO date-only
   * form, which is UTC), whether it read it as an ISO date-time, and where its reading stops (a NUL, or an
   * unclosed parenthesis that runs to the end: text appended there would be skipped).
   * @typedef {{ tag: number, value: number, length: number, kind: number }} Token
   * @type {(text: string) => { zoned: boolean, iso: boolean, cut: number } | undefined}
   */
  const readZone = (text) => {
    const size = text.length;
    let index = 0;
    let ch = 0;
    let cut = size;
    const advance = () => {
      ch = index < size ? p.charCodeAt(text, index) : 0;
      index++;
    };
    // The character under the cursor, read afresh (a comparison with `ch` would narrow its type across advance()).
    const current = () => ch;
    /** @type {(tag: number, value: number, length: number, kind?: number) => Token} */
    const token = (tag, value, length, kind = 0) =>
      /** @type {Token} */ (/** @type {unknown} */ ({ __proto__: null, tag, value, length, kind }));
    /** @type {() => Token} */
    const scan = () => {
      const start = index - 1;
      if (ch === 0) {
        if (start < cut) cut = start;
        return token(END, 0, 0);
      }
      if (ch >= 48 && ch <= 57) {
        // Leading zeros are skipped; nine significant digits at most count.
        while (ch === 48) advance();
        let n = 0;
        for (let digits = 0; ch >= 48 && ch <= 57; advance(), digits++) if (digits < 9) n = n * 10 + ch - 48;
        return token(NUMBER, n, index - 1 - start);
      }
      if (ch === 58 || ch === 45 || ch === 43 || ch === 46 || ch === 41) {
        const symbol = ch;
        advance();
        return token(SYMBOL, symbol, 1);
      }
      if (ch >= 65 && !space(ch)) {
        let prefix = '';
        let length = 0;
        for (; ch >= 65 && !space(ch); advance(), length++) if (length < 3) prefix += p.fromCharCode(ch | 0x20);
        const keyword = KEYWORDS[prefix];
        const kind = keyword === undefined || (length > 3 && keyword[0] !== MONTH_NAME) ? 0 : (keyword[0] ?? 0);
        return token(WORD, kind === 0 ? 0 : (keyword?.[1] ?? 0), length, kind);
      }
      if (space(ch) || ch === 10 || ch === 13 || ch === 0x2028 || ch === 0x2029) {
        advance();
        return token(SPACE, 0, 1);
      }
      if (ch === 40) {
        let balance = 0;
        do {
          const c = current();
          if (c === 41) balance--;
          else if (c === 40) balance++;
          advance();
        } while (balance > 0 && current() !== 0);
        if (balance > 0 && start < cut) cut = start;
      } else {
        advance();
      }
      return token(UNKNOWN, 0, 1);
    };
    advance();
    let next = scan();
    const take = () => {
      const result = next;
      next = scan();
      return result;
    };
    /** @type {(symbol: number) => boolean} */
    const skip = (symbol) => {
      if (next.tag !== SYMBOL || next.value !== symbol) return false;
      next = scan();
      return true;
    };
    /** @type {(t: Token, length: number) => boolean} */
    const fixed = (t, length) => t.tag === NUMBER && t.length === length;
    /** @type {(t: Token) => boolean} */
    const sign = (t) => t.tag === SYMBOL && (t.value === 43 || t.value === 45);
    /** @type {(t: Token) => boolean} */
    const zoneZ = (t) => t.tag === WORD && t.kind === ZONE_NAME && t.length === 1 && t.value === 0;
    let days = 0;
    let times = 0;
    let zoneSign = NONE;
    let zoneHour = NONE;
    let zoneMinute = NONE;
    let iso = false;
    /** @type {(hours: number) => void} */
    const setZone = (hours) => {
      zoneSign = hours < 0 ? -1 : 1;
      zoneHour = hours * zoneSign;
      zoneMinute = 0;
    };
    const addTime = () => {
      if (times >= 4) return false;
      times++;
      return true;
    };
    /** @type {(n: number) => boolean} */
    const timeExpects = (n) =>
      (times === 1 && between(n, 0, 59)) || (times === 2 && between(n, 0, 59)) || (times === 3 && between(n, 0, 999));

    // ParseES5DateTime: the next token for the legacy parser, END when done, undefined when invalid.
    /** @type {() => Token | undefined} */
    const es5 = () => {
      if (sign(next)) {
        const signToken = take();
        if (!fixed(next, 6)) return signToken;
        const year = take().value;
        if (signToken.value === 45 && year === 0) return signToken;
        days++;
      } else if (fixed(next, 4)) {
        take();
        days++;
      } else {
        return take();
      }
      if (skip(45)) {
        if (!fixed(next, 2) || !between(next.value, 1, 12)) return take();
        take();
        days++;
        if (skip(45)) {
          if (!fixed(next, 2) || !between(next.value, 1, 31)) return take();
          take();
          days++;
        }
      }
      if (!(next.tag === WORD && next.kind === TIME_SEPARATOR)) {
        if (next.tag !== END) return take();
      } else {
        take();
        if (!fixed(next, 2) || !between(next.value, 0, 24)) return undefined;
        const hour24 = next.value === 24;
        take();
        addTime();
        if (!skip(58)) return undefined;
        if (!fixed(next, 2) || !between(next.value, 0, 59) || (hour24 && next.value > 0)) return undefined;
        take();
        addTime();
        if (skip(58)) {
          if (!fixed(next, 2) || !between(next.value, 0, 59) || (hour24 && next.value > 0)) return undefined;
          take();
          addTime();
          if (skip(46)) {
            if (next.tag !== NUMBER || (hour24 && next.value > 0)) return undefined;
            take();
            addTime();
          }
        }
        if (zoneZ(next)) {
          take();
          setZone(0);
        } else if (sign(next)) {
          zoneSign = take().value === 43 ? 1 : -1;
          if (fixed(next, 4)) {
            const hourMinute = take().value;
            const hour = p.floor(hourMinute / 100);
            const minute = hourMinute % 100;
            if (!between(hour, 0, 23) || !between(minute, 0, 59)) return undefined;
            zoneHour = hour;
            zoneMinute = minute;
          } else {
            if (!fixed(next, 2) || !between(next.value, 0, 23)) return undefined;
            zoneHour = take().value;
            if (!skip(58)) return undefined;
            if (!fixed(next, 2) || !between(next.value, 0, 59)) return undefined;
            zoneMinute = take().value;
          }
        }
        if (next.tag !== END) return undefined;
      }
      if (zoneHour === NONE && times === 0) setZone(0);
      iso = true;
      return token(END, 0, 0);
    };

    const first = es5();
    if (first === undefined) return undefined;
    let readNumber = days !== 0;
    for (let t = first; t.tag !== END; t = take()) {
      if (t.tag === NUMBER) {
        readNumber = true;
        const n = t.value;
        if (skip(58)) {
          if (skip(58)) {
            if (times !== 0) return undefined;
            addTime();
            addTime();
          } else {
            if (!addTime()) return undefined;
            if (next.tag === SYMBOL && next.value === 46) take();
          }
        } else if (skip(46) && timeExpects(n)) {
          addTime();
          if (next.tag !== NUMBER) return undefined;
          take();
          if (!addTime()) return undefined;
          times = 4;
        } else if (zoneHour !== NONE && zoneMinute === NONE && between(n, 0, 59)) {
          zoneMinute = n;
        } else if (timeExpects(n)) {
          addTime();
          times = 4;
          if (next.tag !== END && next.tag !== SPACE && !zoneZ(next) && !sign(next)) return undefined;
        } else {
          if (days >= 3) return undefined;
          days++;
          skip(45);
        }
      } else if (t.tag === WORD) {
        if (t.kind === AM_PM && times !== 0) {
          // An hour offset: no bearing on the zone.
        } else if (t.kind === MONTH_NAME) {
          skip(45);
        } else if (t.kind === ZONE_NAME && readNumber) {
          setZone(t.value);
        } else {
          if (readNumber) return undefined;
          if (next.tag === NUMBER) return undefined;
        }
      } else if (sign(t) && ((zoneHour === 0 && zoneMinute === 0) || times !== 0)) {
        zoneSign = t.value === 43 ? 1 : -1;
        let n = 0;
        let length = 0;
        if (next.tag === NUMBER) {
          const number = take();
          length = number.length;
          n = number.value;
        }
        readNumber = true;
        if (next.tag === SYMBOL && next.value === 58) {
          zoneHour = n;
          zoneMinute = NONE;
        } else if (length === 1 || length === 2) {
          zoneHour = n;
          zoneMinute = 0;
        } else if (length === 3 || length === 4) {
          zoneHour = p.floor(n / 100);
          zoneMinute = n % 100;
        } else {
          return undefined;
        }
      } else if ((sign(t) || (t.tag === SYMBOL && t.value === 41)) && readNumber) {
        return undefined;
      }
    }
    return { zoned: zoneSign !== NONE, iso, cut };
  };
  /** @type {(text: string) => number} */
  const parse = (text) => {
    const reading = readZone(text);
    if (reading === undefined) return p.Number.NaN;
    if (reading.zoned) return p.apply(originalParse, Original, [text]);
    // The same fields with a UTC marker V8 reads where it stopped reading: "Z" after an ISO date-time (nothing
    // may follow one), " UTC" after a legacy date (a zone name after its numbers).
    const marked = `${p.slice(text, 0, reading.cut)}${reading.iso ? 'Z' : ' UTC'}`;
    return p.apply(originalParse, Original, [marked]);
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
