// Attack (red-team pass 140, finding 2): hand V8 agent-built source to compile. V8's parser and regexp compiler
// allocate their working memory with malloc, outside every V8 heap limit, and never check for termination, so a
// compile the watchdog's kill cannot stop went on growing the kernel's process after the agent was reported
// E_QUOTA: inline, one agent with memory_mb 128 took the kernel to 8.5 GB RSS with `(0, eval)('{}'.repeat(24e6))`
// and to 4.6 GB with `new RegExp('a|'.repeat(8e6) + 'a')` (isolated-vm refuses eval and Function sources only past
// memoryLimit/8 characters, RegExp sources never). The guest prelude now measures every source agent code hands
// V8 at run time before V8 sees it: code (eval, Function and the async, generator and async generator function
// constructors) past 1 MiB and regexp patterns (RegExp, RegExp.prototype.compile, String.prototype.match, matchAll
// and search) past 64 KiB are refused with a RangeError the agent can catch (SECURITY.md, hole H6), and the kernel's
// code check fails a run whose module holds a regexp literal past 64 KiB (E_BAD_CODE: a 4 MiB literal at memory_mb
// 1024 compiled for 25 s, the kernel at 1.28 GB and growing after the agent's E_QUOTA). Code handed to eval or a
// function constructor that may hold such a literal is refused too. The module itself is bounded by the 4 MiB
// source cap, which stays open (H6).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { expectContainedInline, HEALTHY_AGENT } from '../helpers/containment.js';
import { runBatchInChild } from '../helpers/fork.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const CODE_CAP = 1024 * 1024;
const PATTERN_CAP = 64 * 1024;

// Each path, given a source one unit past its cap. The code is a line comment and the pattern a run of 'a' (cheap
// to compile, so without the cap each path succeeds quickly and the test fails on its result, not on memory).
const PAST_CAP: Record<string, string> = {
  'indirect eval': '(0, eval)(code)',
  'direct eval': 'eval(code)',
  'globalThis.eval': 'globalThis["eval"](code)',
  'Function without new': 'Function(code)',
  'new Function, parameters and body joined past the cap': `new Function('a'.repeat(${CODE_CAP / 2 + 1}), '//' + 'b'.repeat(${CODE_CAP / 2 - 2}))`,
  'Function.prototype.constructor (Object.getPrototypeOf(function(){}).constructor)':
    'Object.getPrototypeOf(function () {}).constructor(code)',
  'Function reached from a class': '(class {}).constructor(code)',
  'AsyncFunction ((async () => {}).constructor)': '(async () => {}).constructor(code)',
  'AsyncFunction with new': 'new (Object.getPrototypeOf(async function () {}).constructor)(code)',
  'GeneratorFunction (function* () {}.constructor)': '(function* () {}).constructor(code)',
  'AsyncGeneratorFunction (async function* () {}.constructor)': '(async function* () {}).constructor(code)',
  'the intrinsic Function behind AsyncFunction': 'Object.getPrototypeOf((async () => {}).constructor)(code)',
  'Reflect.construct(Function) with another new.target': 'Reflect.construct(Function, [code], class {})',
  'Reflect.apply(Function)': 'Reflect.apply(Function, undefined, [code])',
  'a Function subclass': 'new (class extends Function {})(code)',
  'a bound Function': 'Function.bind(null)(code)',
  'code from an object whose toString answers long': 'Function({ toString: () => code })',
  'new RegExp': 'new RegExp(pattern)',
  'RegExp without new': 'RegExp(pattern)',
  'RegExp with flags': 'new RegExp(pattern, "gi")',
  "a regexp literal's constructor": '/a/.constructor(pattern)',
  'RegExp.prototype.constructor': 'new RegExp.prototype.constructor(pattern)',
  'RegExp[Symbol.species]': 'new RegExp[Symbol.species](pattern)',
  'Reflect.construct(RegExp) with another new.target': 'Reflect.construct(RegExp, [pattern], class {})',
  'a RegExp subclass': 'new (class extends RegExp {})(pattern)',
  'a regexp-like object (Symbol.match) as the pattern':
    'new RegExp({ [Symbol.match]: true, source: pattern, flags: "" })',
  'pattern from an object whose toString answers long': 'new RegExp({ toString: () => pattern })',
  "'x'.match(string)": "'x'.match(pattern)",
  "'x'.matchAll(string)": "'x'.matchAll(pattern)",
  "'x'.search(string)": "'x'.search(pattern)",
  'String.prototype.match on a non-string receiver': 'String.prototype.match.call(1, { toString: () => pattern })',
  'RegExp.prototype.compile': '/a/.compile(pattern)',
  'RegExp.prototype.compile with a regexp-like object': '/a/.compile({ toString: () => pattern })',
};

const refusalAgent = `
export default function main() {
  const code = '//' + 'x'.repeat(${CODE_CAP - 1});
  const pattern = 'a'.repeat(${PATTERN_CAP + 1});
  const out = {};
  const attempt = (name, run) => {
    try {
      const value = run();
      out[name] = 'not refused: ' + typeof value;
    } catch (error) {
      out[name] = [error instanceof RangeError ? 'RangeError' : String(error && error.name), String(error && error.message)];
    }
  };
${Object.entries(PAST_CAP)
  .map(([name, call]) => `  attempt(${JSON.stringify(name)}, () => ${call});`)
  .join('\n')}
  return out;
}`;

// What must keep working, each with the value it must give.
const UNDER_CAP: Record<string, [call: string, expected: unknown]> = {
  "eval('1+1')": ["eval('1+1')", 2],
  "(0, eval)('1+1')": ["(0, eval)('1+1')", 2],
  'eval of a non-string returns it': ['eval(5)', 5],
  "eval is indirect now: it does not see the caller's scope": [
    "(() => { const local = 1; return eval('typeof local'); })()",
    'undefined',
  ],
  'eval of code exactly at the cap': [`eval('//' + 'x'.repeat(${CODE_CAP - 4}) + '\\n7')`, 7],
  "new Function('a', 'return a')(2)": ["new Function('a', 'return a')(2)", 2],
  "Function('a', 'b', 'return a + b')(2, 3)": ["Function('a', 'b', 'return a + b')(2, 3)", 5],
  'Function exactly at the cap': [`Function('//' + 'x'.repeat(${CODE_CAP - 2}))()`, null],
  "Function('return this')() is the global": ["Function('return this')() === globalThis", true],
  'an async function from its constructor': ["(async () => {}).constructor('return 3')() instanceof Promise", true],
  'a generator from its constructor': ["[...(function* () {}).constructor('yield 1; yield 2')()].join()", '1,2'],
  'the constructors are the globals': [
    'Function.prototype.constructor === Function && Object.getPrototypeOf(function () {}).constructor === Function && (() => {}) instanceof Function && Object.getPrototypeOf((async () => {}).constructor) === Function',
    true,
  ],
  'a Function subclass': [
    "(() => { class F extends Function {} const f = new F('return 7'); return [f(), f instanceof F]; })()",
    [7, true],
  ],
  '/a+/ matches': ["/a+/.exec('caab')[0]", 'aa'],
  "new RegExp('a+', 'g')": [
    "(() => { const r = new RegExp('a+', 'g'); return [r.flags, r.global, 'aXaa'.match(r)]; })()",
    ['g', true, ['a', 'aa']],
  ],
  'RegExp without new': ["RegExp('b').test('abc')", true],
  'instanceof RegExp': [
    "[/a/ instanceof RegExp, new RegExp('a') instanceof RegExp, RegExp('a') instanceof RegExp]",
    [true, true, true],
  ],
  'RegExp(regexp) is the regexp itself; new RegExp(regexp) a copy': [
    "(() => { const r = /x/g; const c = new RegExp(r, 'i'); return [RegExp(r) === r, new RegExp(r) !== r, c.source, c.flags]; })()",
    [true, true, 'x', 'i'],
  ],
  'class X extends RegExp': [
    "(() => { class X extends RegExp { hi() { return 'hi'; } } const x = new X('a+', 'g'); return [x instanceof X, x instanceof RegExp, x.hi(), 'baa'.replace(x, 'c')]; })()",
    [true, true, 'hi', 'bc'],
  ],
  'RegExp statics and prototype': [
    "(() => { /a(b)/.exec('ab'); return [RegExp.$1, RegExp.lastMatch, RegExp.name, RegExp.length, RegExp[Symbol.species] === RegExp, RegExp.prototype.constructor === RegExp, /a/.constructor === RegExp, Object.getPrototypeOf(/a/) === RegExp.prototype]; })()",
    ['b', 'ab', 'RegExp', 2, true, true, true, true],
  ],
  // (A run of one letter that long is more than V8 takes: "Regular expression too large".)
  'a pattern exactly at the cap': [
    `(() => { const s = 'a|'.repeat(${PATTERN_CAP / 2 - 1}) + 'aa'; return [s.length, new RegExp(s).test('aa')]; })()`,
    [PATTERN_CAP, true],
  ],
  'split, replace and matchAll with regexps': [
    "['a,b;c'.split(/[,;]/), 'aXa'.replace(/a/g, 'b'), [...'a1b2'.matchAll(/\\d/g)].map((m) => m[0])]",
    [['a', 'b', 'c'], 'bXb', ['1', '2']],
  ],
  'match, matchAll and search with strings': [
    "['abc'.match('b').index, [...'a1b2'.matchAll('\\\\d')].length, 'abc'.search('c'), 'null'.match(null)[0], 'abc'.match()[0]]",
    [1, 2, 2, 'null', ''],
  ],
  'matchAll refuses a non-global regexp': [
    "(() => { try { 'a'.matchAll(/a/); return 'no error'; } catch (e) { return e.name; } })()",
    'TypeError',
  ],
  'RegExp.prototype.compile': [
    "(() => { const r = /a/; r.compile('b+', 'g'); return [r.source, r.flags, r.test('bb')]; })()",
    ['b+', 'g', true],
  ],
};

// The same refusals after the agent poisoned what a wrapper could have used: proxy traps planted on
// Object.prototype (a handler with a prototype would consult them, with the intrinsic as their target), index setters
// on Array.prototype, Reflect, String.prototype.indexOf, Symbol and RangeError replaced.
const poisonedAgent = `
export default function main() {
  const OriginalRangeError = RangeError;
  const code = '//' + 'x'.repeat(${CODE_CAP - 1});
  const pattern = 'a'.repeat(${PATTERN_CAP + 1});
  const called = [];
  for (const trap of ['apply', 'construct', 'get', 'getPrototypeOf', 'has', 'ownKeys']) {
    Object.defineProperty(Object.prototype, trap, { configurable: true, get() { called.push(trap); return (target) => { called.push('trap:' + trap); return target; }; } });
  }
  for (let i = 0; i < 3; i++) Object.defineProperty(Array.prototype, i, { configurable: true, set(v) { called.push('set ' + i); }, get() { called.push('get ' + i); return pattern; } });
  Reflect.apply = Reflect.construct = () => { called.push('Reflect'); return 'poisoned'; };
  String.prototype.indexOf = () => { called.push('indexOf'); return 0; };
  globalThis.Symbol = { match: Symbol('fake'), matchAll: Symbol('fake'), search: Symbol('fake') };
  globalThis.RangeError = function FakeRangeError() { called.push('RangeError'); };
  const out = {};
  const attempt = (name, run) => {
    try {
      run();
      out[name] = 'not refused';
    } catch (error) {
      out[name] = error instanceof OriginalRangeError ? 'RangeError' : 'other: ' + String(error && error.message).slice(0, 100);
    }
  };
  attempt('eval', () => (0, eval)(code));
  attempt('Function', () => Function(code));
  attempt('AsyncFunction', () => (async () => {}).constructor(code));
  attempt('RegExp', () => new RegExp(pattern));
  attempt('regexp constructor', () => /a/.constructor(pattern));
  attempt('match', () => 'x'.match(pattern));
  attempt('matchAll', () => 'x'.matchAll(pattern));
  attempt('search', () => 'x'.search(pattern));
  attempt('compile', () => /a/.compile(pattern));
  for (const trap of ['apply', 'construct', 'get', 'getPrototypeOf', 'has', 'ownKeys']) delete Object.prototype[trap];
  for (let i = 0; i < 3; i++) delete Array.prototype[i];
  return { out, called: [...new Set(called)] };
}`;

const workingAgent = `
export default function main() {
  const out = {};
${Object.entries(UNDER_CAP)
  .map(
    ([name, [call]]) =>
      `  try { const v = ${call}; out[${JSON.stringify(name)}] = v === undefined ? null : v; } catch (error) { out[${JSON.stringify(name)}] = 'threw ' + String(error && error.name) + ': ' + String(error && error.message).slice(0, 200); }`,
  )
  .join('\n')}
  return out;
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel;
  beforeAll(() => {
    kernel = testKernel({ isolation, limits: { memory_mb: 128, cpu_ms: 20_000, wall_ms: 30_000 } });
  });
  afterAll(async () => {
    await kernel.close();
  });

  it('every dynamic path refuses a source past its cap with a RangeError the agent catches', async () => {
    const result = await kernel.run({ code: refusalAgent });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (!result.ok) return;
    const seen = result.value as Record<string, unknown>;
    for (const name of Object.keys(PAST_CAP)) {
      const outcome = seen[name];
      expect(outcome, name).toEqual([
        'RangeError',
        expect.stringMatching(/longer than (1048576|65536) characters is refused$/),
      ]);
      // The message names the path and the cap, nothing of the host.
      expect(String((outcome as string[])[1]), name).not.toMatch(/\/|\\|isolated-vm|node:/);
    }
  }, 60_000);

  it('poisoned prototypes and globals open no path past the caps, and no planted trap runs', async () => {
    const result = await kernel.run({ code: poisonedAgent });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (!result.ok) return;
    const { out, called } = result.value as { out: Record<string, string>; called: string[] };
    for (const [name, outcome] of Object.entries(out)) expect(outcome, name).toBe('RangeError');
    expect(Object.keys(out).length).toBe(9);
    expect(called).toEqual([]);
  }, 60_000);

  it("a regexp literal in the agent's module past the pattern cap fails the run before any of it runs", async () => {
    const past = await kernel.run({ code: `export default () => /${'a'.repeat(PATTERN_CAP + 1)}/.test('a')` });
    expect(past).toMatchObject({
      ok: false,
      error: {
        code: 'E_BAD_CODE',
        message: `a regular expression literal longer than ${PATTERN_CAP} characters is refused`,
      },
    });
    // In a nested function, escaped, with flags: the cap counts the literal's body as written.
    const nested = await kernel.run({ code: `export default () => () => [/\\${'a'.repeat(PATTERN_CAP - 1)}/giu]` });
    expect(nested).toMatchObject({ ok: false, error: { code: 'E_BAD_CODE' } });
    // At the cap it compiles and runs (a run of one atom that long is too large for V8 itself, so alternatives).
    const atCap = await kernel.run({ code: `export default () => /${'a|'.repeat(PATTERN_CAP / 2 - 1)}aa/.test('b')` });
    expect(atCap, JSON.stringify(atCap).slice(0, 300)).toMatchObject({ ok: true, value: false });
  }, 60_000);

  it('each Unicode property escape counts 2048 characters of the pattern cap, on every path', async () => {
    // Red-team pass 142: V8's parse expands a property escape, about 1 MB for each \p{RGI_Emoji} under the v flag,
    // and 4,681 of them, within the length cap, took the inline kernel to 4.3 GB. 31 fit the cap, 32 do not.
    // Built at run time: the module may spell no more escapes than a pattern may hold (below).
    const escapes = (n: number) => `'\\\\p{L}'.repeat(${n})`;
    const result = await kernel.run({
      code: `export default () => {
        const outcome = (make) => { try { make(); return 'built'; } catch (e) { return e.name + ': ' + e.message; } };
        return {
          fits: outcome(() => new RegExp(${escapes(31)}, 'u')),
          regexp: outcome(() => new RegExp(${escapes(32)}, 'v')),
          match: outcome(() => 'x'.match(${escapes(32)})),
          evalLiteral: outcome(() => (0, eval)('/' + ${escapes(32)} + '/u')),
          functionLiteral: outcome(() => Function('return /' + ${escapes(32)} + '/u')),
        };
      }`,
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const seen = (result as { value: Record<string, string> }).value;
    expect(seen['fits']).toBe('built');
    for (const path of ['regexp', 'match', 'evalLiteral', 'functionLiteral']) {
      expect(seen[path], path).toMatch(/^RangeError: .*property escapes .*\(each counts 2048\) is refused$/);
    }
    // A module's literals are weighed the same way, on the tree of a parse that compiles none of them.
    const module = await kernel.run({ code: `export default () => /${'\\p{RGI_Emoji}'.repeat(4681)}/v` });
    expect(module).toMatchObject({
      ok: false,
      error: { code: 'E_BAD_CODE', message: /^a regular expression literal with more Unicode property escapes/ },
    });
  }, 60_000);

  it('code handed to eval or a function constructor that may hold a literal past the pattern cap is refused', async () => {
    // Nothing parses such code before V8 does: a 1 MiB literal in eval'd code took the inline kernel 120-400 MB past
    // the agent's limit, compiling for 3-4 s (red-team pass 142). Every `/` is taken for a literal's start.
    const body = (n: number) => `'a|'.repeat(${n}) + 'a'`;
    const result = await kernel.run({
      code: `export default () => {
        const outcome = (make) => { try { return typeof make(); } catch (e) { return e.name + ': ' + e.message; } };
        const past = ${body(PATTERN_CAP / 2)};
        const atCap = ${body(PATTERN_CAP / 2 - 1)};
        const half = ${body(PATTERN_CAP / 4)};
        return {
          evalPast: outcome(() => (0, eval)('() => /' + past + '/')),
          functionPast: outcome(() => Function('return /' + past + '/')),
          parameterPast: outcome(() => Function('a = /' + past + '/', 'return a')),
          // CreateDynamicFunction joins the parameters with commas on one line: a literal can span two of them.
          acrossParameters: outcome(() => Function('a = /' + ${body(PATTERN_CAP / 4)}, ${body(PATTERN_CAP / 4)} + '/', 'return a')),
          asyncPast: outcome(() => (async () => {}).constructor('return /' + past + '/')),
          // Halves under the cap, joined by a slash that does not close the literal.
          inClass: outcome(() => (0, eval)('/' + half + '[/]' + half + '/')),
          escapedSlash: outcome(() => (0, eval)('/' + half + '\\\\/' + half + '/')),
          evalAtCap: (0, eval)('/' + atCap + '/').test('b'),
          functionAtCap: Function('return /' + atCap + '/u')().test('a'),
          // A long line of divisions, strings and comments, as minified code has, holds no long literal.
          minified: (0, eval)('let x = 8; ' + 'x = x / 2 * 2; "a/b"; /* / */ '.repeat(8000) + 'x'),
          // Separate lines each under the cap.
          lines: Function('x', ('x.push(/' + atCap + '/);\\n').repeat(3) + 'return x.length')([]),
        };
      }`,
    });
    expect(result.ok, JSON.stringify(result).slice(0, 500)).toBe(true);
    const seen = (result as { value: Record<string, unknown> }).value;
    for (const path of [
      'evalPast',
      'functionPast',
      'parameterPast',
      'acrossParameters',
      'asyncPast',
      'inClass',
      'escapedSlash',
    ]) {
      expect(seen[path], path).toMatch(
        /^RangeError: (eval|Function|AsyncFunction): code that may hold a regular expression literal longer than 65536 characters is refused$/,
      );
    }
    expect(seen).toMatchObject({ evalAtCap: false, functionAtCap: true, minified: 8, lines: 3 });
  }, 60_000);

  it('split and matchAll take only a regexp as their receiver: any other hands the intrinsic RegExp its pattern', async () => {
    // Review 146: SpeciesConstructor falls back to the intrinsic RegExp when the receiver's `constructor`, or its
    // species, is undefined, and the intrinsic took a plain object's string or `source` unmeasured.
    const result = await kernel.run({
      code: `export default () => {
        const long = 'a|'.repeat(${PATTERN_CAP}) + 'a';
        const split = RegExp.prototype[Symbol.split];
        const matchAll = RegExp.prototype[Symbol.matchAll];
        const outcome = (make) => { try { make(); return 'built'; } catch (e) { return e.name + ': ' + e.message; } };
        const plain = { constructor: undefined, flags: '', toString: () => long };
        const regexpLike = { constructor: { [Symbol.species]: null }, [Symbol.match]: true, source: long, flags: 'g', lastIndex: 0 };
        const real = /b/g;
        real.constructor = undefined;
        return {
          split: outcome(() => split.call(plain, 'xyz')),
          splitRegExpLike: outcome(() => split.call(regexpLike, 'xyz')),
          matchAll: outcome(() => matchAll.call({ ...plain, flags: 'g', lastIndex: 0 }, 'xyz')),
          viaString: outcome(() => 'xyz'.split({ [Symbol.split]: split, constructor: undefined, flags: '', toString: () => long })),
          viaStringMatchAll: outcome(() => 'xyz'.matchAll({ [Symbol.matchAll]: matchAll, [Symbol.match]: true, constructor: undefined, source: long, flags: 'g', lastIndex: 0 })),
          real: ['abcb'.split(real), [...'abcb'.matchAll(real)].length, 'a1b2'.split(/\\d/), [...'a1b2'.matchAll(/\\d/g)].map((m) => m[0])],
          shape: [split.name, split.length, matchAll.name, matchAll.length, 'prototype' in split],
        };
      }`,
    });
    expect(result.ok, JSON.stringify(result).slice(0, 500)).toBe(true);
    const seen = (result as { value: Record<string, unknown> }).value;
    for (const path of ['split', 'splitRegExpLike', 'matchAll', 'viaString', 'viaStringMatchAll']) {
      expect(seen[path], path).toMatch(
        /^TypeError: RegExp\.prototype\[Symbol\.(split|matchAll)\] called on a value that is not a regular expression is refused$/,
      );
    }
    expect(seen['real']).toEqual([['a', 'c', ''], 2, ['a', 'b', ''], ['1', '2']]);
    expect(seen['shape']).toEqual(['[Symbol.split]', 2, '[Symbol.matchAll]', 1, false]);
  }, 60_000);

  it('sources under the caps compile and behave as before', async () => {
    const result = await kernel.run({ code: workingAgent });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (!result.ok) return;
    const seen = result.value as Record<string, unknown>;
    for (const [name, [, expected]] of Object.entries(UNDER_CAP)) expect(seen[name], name).toEqual(expected);
  }, 60_000);
});

// Crash class, inline, in a child process: the original bombs end within the bound (at once, measured) with the agent's own RangeError, and the
// kernel's process stays near its agents' limits (it grew to 8.5 and 4.6 GB before), serves on and exits by itself.
describe('inline kernel in a child process', () => {
  const BOMBS: Record<string, string> = {
    "(0, eval)('{}'.repeat(24e6))": `export default () => { (0, eval)('{}'.repeat(24e6)); return 'compiled'; }`,
    "new RegExp('a|'.repeat(8e6) + 'a').test('b')": `export default () => new RegExp('a|'.repeat(8e6) + 'a').test('b')`,
    // Within the length cap (65,534 characters): 4.3 GB before property escapes were weighed (red-team pass 142).
    "new RegExp('\\p{RGI_Emoji}'.repeat(4681), 'v')": `export default () => new RegExp('\\\\p{RGI_Emoji}'.repeat(4681), 'v').test('b')`,
    // Within the code cap: 120-400 MB past the agent's limit and 3-4 s of compiling before (red-team pass 142).
    'a 1 MiB regexp literal in eval': `export default () => (0, eval)('() => /' + 'a|'.repeat(520000) + 'a/')().test('b')`,
    // Review 146: the intrinsic RegExp is split's fallback species: 3.2 GB, 30 s after the agent's E_QUOTA.
    'RegExp.prototype[Symbol.split] on an object whose constructor is undefined': `export default () => {
      const long = 'a|'.repeat(8e6) + 'a';
      return RegExp.prototype[Symbol.split].call({ constructor: undefined, flags: '', toString: () => long }, 'xyz');
    }`,
  };
  for (const [name, bomb] of Object.entries(BOMBS)) {
    it(`${name} is refused at once and the kernel's peak RSS stays under 600 MB`, async () => {
      const batch = await runBatchInChild(
        [bomb, HEALTHY_AGENT],
        { memory_mb: 128, cpu_ms: 20_000, wall_ms: 30_000 },
        60_000,
        'inline',
        3000,
      );
      expectContainedInline(batch, {
        code: 'E_AGENT_FAILED',
        message: /characters.* is refused|not a regular expression is refused/,
        boundMs: 10_000,
      });
      // Peak resident memory of the kernel's process over both runs (getrusage), after the healthy agent.
      expect(batch.reports[1]?.maxRssMb).toBeLessThan(600);
    }, 90_000);
  }
});
