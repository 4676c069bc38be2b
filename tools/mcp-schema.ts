/**
 * Checking an agent's arguments against the JSON Schema an MCP server declared for a tool, in the kernel's
 * process, before the server sees them. The schema is the server's and the arguments are the agent's, so the
 * check must stay cheap whatever both say. For a given schema, Ajv's generated code is linear in the data
 * except for three keywords, each replaced here (what remains is the product of the two: a schema that applies
 * many subschemas to each item costs that many times the items, see SECURITY.md):
 * - `pattern` and `patternProperties` run on the host's backtracking RegExp, where a careless pattern such as
 *   `^([a-z0-9]+-?)+$` on a near miss takes time exponential in the input (25 characters stalled the kernel's
 *   event loop, every agent and the watchdog with it, for 2 s; each character doubles it). Patterns therefore
 *   run on RE2JS, a linear-time engine; a pattern RE2 cannot express (backreferences, lookaround) makes the
 *   schema unusable, and calls to that tool fail closed.
 * - `uniqueItems` compares every pair of items unless the schema declares them scalars (20,000 small objects,
 *   160 KB of arguments, held the event loop 8.2 s). It is replaced by a linear check: each item is interned
 *   as an id built from its children's ids (object keys sorted: JSON Schema equality ignores key order), and
 *   the ids go in a Set.
 * - `format` ran ajv-formats' full set, whose `url` regex backtracks quadratically (40,000 characters: 0.9 s).
 *   Only the formats of mcp-formats.ts are checked, each linear; any other format is an annotation.
 *
 * Compiled schemas live in the Ajv instances of a SchemaCompiler, which caches each schema it compiled for as
 * long as it lives: an MCP connection makes one per server start and drops it with the connection, so a
 * server that exits after every call (and is re-listed and recompiled on each start) leaves nothing behind,
 * and one server's schema ids never meet another's.
 *
 * Dialects follow the MCP SDK's rule: no `$schema` or 2020-12 → Ajv2020, 2019-09 → Ajv2019, draft-07 or
 * draft-06 → Ajv's draft-07 class; any other `$schema` is unusable. Options are the SDK's defaults, except
 * that refs are never inlined (a server's small ref-free definition referenced from many places would be
 * copied into the generated code at each).
 */
import { Ajv, type Options } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { RE2JS } from 're2js';
import { linearFormats } from './mcp-formats.js';

/** The check of one tool's arguments. */
export type ArgumentCheck = (input: unknown) => { valid: true } | { valid: false; errorMessage: string };

/** Compiles tool schemas; everything it compiled is dropped with it. */
export interface SchemaCompiler {
  /**
   * The check for a tool's declared input schema, or undefined when the schema cannot be used (not an
   * object, an unknown dialect, a pattern RE2 cannot run, or anything else Ajv refuses). Never throws.
   */
  compile(schema: unknown): ArgumentCheck | undefined;
}

type Engine = Pick<Ajv, 'compile' | 'errorsText'>;
type RegExpEngine = NonNullable<NonNullable<Options['code']>['regExp']>;
type Dialect = '2020-12' | '2019-09' | 'draft-07';

/** RegExp.test with RE2's linear-time matching (Ajv calls it with the pattern and its `u` flag). */
function linearRegExp(pattern: string, _flags: string): { test(input: string): boolean } {
  const compiled = RE2JS.compile(pattern);
  return { test: (input: string) => compiled.matcher(input).find() };
}
// Ajv's code generator refers to the engine by this name (it is called, never stringified, here).
linearRegExp.code = 'linearRegExp';

const OPTIONS: Options = {
  strict: false,
  validateFormats: true,
  validateSchema: false,
  allErrors: true,
  inlineRefs: false,
  // Unknown formats are annotations (strict: false); Ajv would log a warning for each on the host's console.
  logger: false,
  code: { regExp: linearRegExp as unknown as RegExpEngine },
};

function dialectOf(schema: object): Dialect | undefined {
  const declared = (schema as { $schema?: unknown }).$schema;
  if (declared === undefined || (typeof declared === 'string' && declared.includes('2020-12'))) return '2020-12';
  if (typeof declared === 'string' && declared.includes('2019-09')) return '2019-09';
  if (typeof declared === 'string' && /draft-0[67]/.test(declared)) return 'draft-07';
  return undefined;
}

/**
 * Gives every JSON value an id such that two values get the same id exactly when they are equal as JSON
 * Schema compares them (`uniqueItems`, `const`): numbers by value (1 and 1.0 alike), objects by their set of
 * keys and values whatever the order. Each value's key is built from its children's ids, so interning a value
 * costs its size once (each object's keys sorted), and a value met again (an array inside an array that is
 * itself checked for unique items) costs nothing more.
 */
class Interner {
  readonly #ids = new Map<string, number>();
  readonly #known = new WeakMap<object, number>();

  id(value: unknown): number {
    if (value === null || typeof value !== 'object') return this.#intern(scalarKey(value));
    const known = this.#known.get(value);
    if (known !== undefined) return known;
    let key: string;
    if (Array.isArray(value)) {
      key = 'a';
      for (const item of value) key += `${this.id(item)},`;
    } else {
      key = 'o';
      for (const name of Object.keys(value).sort()) {
        key += `${JSON.stringify(name)}:${this.id((value as Record<string, unknown>)[name])},`;
      }
    }
    const id = this.#intern(key);
    this.#known.set(value, id);
    return id;
  }

  #intern(key: string): number {
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.#ids.size;
      this.#ids.set(key, id);
    }
    return id;
  }
}

function scalarKey(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'number':
      // String(-0) is "0": JSON Schema's numbers compare by value.
      return `n${String(value)}`;
    case 'boolean':
      return value ? 't' : 'f';
    default:
      return value === null ? 'z' : `?${typeof value}`;
  }
}

/**
 * A compiler of tool schemas with its own Ajv instances (one per dialect, made when first needed). Its
 * checks may run at any time; each check interns values afresh, so nothing it saw outlives it.
 */
export function createSchemaCompiler(): SchemaCompiler {
  const engines = new Map<Dialect, Engine>();
  // The interner of the check running now (checks are synchronous: one at a time).
  let interner: Interner | undefined;

  const unique = (schemaValue: unknown, data: unknown): boolean => {
    if (schemaValue !== true || !Array.isArray(data) || data.length < 2) return true;
    const ids = interner ?? new Interner();
    const seen = new Set<number>();
    for (const item of data) {
      const id = ids.id(item);
      if (seen.has(id)) return false;
      seen.add(id);
    }
    return true;
  };

  const engineFor = (dialect: Dialect): Engine => {
    let engine = engines.get(dialect);
    if (engine === undefined) {
      const made =
        dialect === '2020-12' ? new Ajv2020(OPTIONS) : dialect === '2019-09' ? new Ajv2019(OPTIONS) : new Ajv(OPTIONS);
      made.removeKeyword('uniqueItems');
      made.addKeyword({
        keyword: 'uniqueItems',
        type: 'array',
        schemaType: 'boolean',
        errors: false,
        error: { message: 'must NOT have duplicate items' },
        validate: unique,
      });
      for (const [name, format] of Object.entries(linearFormats())) made.addFormat(name, format);
      engine = made;
      engines.set(dialect, engine);
    }
    return engine;
  };

  return {
    compile(schema: unknown): ArgumentCheck | undefined {
      try {
        if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return undefined;
        const dialect = dialectOf(schema);
        if (dialect === undefined) return undefined;
        const engine = engineFor(dialect);
        // `$id` is dropped: a server's ids must not name (or collide with) schemas of its other tools.
        const { $id: _id, ...own } = schema as Record<string, unknown>;
        const validate = engine.compile(own);
        return (input) => {
          let valid: boolean;
          interner = new Interner();
          try {
            valid = validate(input) === true;
          } catch {
            return { valid: false, errorMessage: 'does not match the schema' };
          } finally {
            interner = undefined;
          }
          return valid ? { valid: true } : { valid: false, errorMessage: engine.errorsText(validate.errors) };
        };
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * The check for one schema on a compiler of its own (dropped with the check): for a one-off check. An MCP
 * connection compiles its tools on one compiler per server start instead (createSchemaCompiler).
 */
export function compileArgumentCheck(schema: unknown): ArgumentCheck | undefined {
  return createSchemaCompiler().compile(schema);
}
