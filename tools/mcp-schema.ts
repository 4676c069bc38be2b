/**
 * Checking an agent's arguments against the JSON Schema an MCP server declared for a tool, in the kernel's
 * process, before the server sees them. The schema is the server's and the arguments are the agent's, so the
 * check must stay cheap whatever both say: Ajv's generated code is linear in the data except for `pattern`
 * and `patternProperties`, which it runs with the host's backtracking RegExp, where a careless pattern such as
 * `^([a-z0-9]+-?)+$` on a near miss takes time exponential in the input (25 characters stalled the kernel's
 * event loop, every agent and the watchdog with it, for 2 s; each character doubles it). Patterns therefore
 * run on RE2JS, a linear-time engine; a pattern RE2 cannot express (backreferences, lookaround) makes the
 * schema unusable, and calls to that tool fail closed.
 *
 * Dialects follow the MCP SDK's rule: no `$schema` or 2020-12 → Ajv2020, 2019-09 → Ajv2019, draft-07 or
 * draft-06 → Ajv's draft-07 class; any other `$schema` is unusable. Options are the SDK's defaults.
 */
import { Ajv, type Options } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
// ajv-formats is CommonJS whose export is the plugin function (or, through some interop, an object with it).
import formatsModule from 'ajv-formats';
import { RE2JS } from 're2js';

/** The check of one tool's arguments. */
export type ArgumentCheck = (input: unknown) => { valid: true } | { valid: false; errorMessage: string };

type Engine = Pick<Ajv, 'compile' | 'errorsText'>;
type RegExpEngine = NonNullable<NonNullable<Options['code']>['regExp']>;

/** RegExp.test with RE2's linear-time matching (Ajv calls it with the pattern and its `u` flag). */
function linearRegExp(pattern: string, _flags: string): { test(input: string): boolean } {
  const compiled = RE2JS.compile(pattern);
  return { test: (input: string) => compiled.matcher(input).find() };
}
// Ajv's code generator refers to the engine by this name (it is called, never stringified, here).
linearRegExp.code = 'linearRegExp';

const formats = formatsModule as unknown as ((ajv: Ajv) => Ajv) | { default: (ajv: Ajv) => Ajv };
const addFormats = typeof formats === 'function' ? formats : formats.default;

const OPTIONS: Options = {
  strict: false,
  validateFormats: true,
  validateSchema: false,
  allErrors: true,
  code: { regExp: linearRegExp as unknown as RegExpEngine },
};

const engines = new Map<string, Engine>();

function engineFor(schema: unknown): Engine | undefined {
  const declared =
    schema !== null && typeof schema === 'object' ? (schema as { $schema?: unknown }).$schema : undefined;
  let dialect: string;
  if (declared === undefined || (typeof declared === 'string' && declared.includes('2020-12'))) dialect = '2020-12';
  else if (typeof declared === 'string' && declared.includes('2019-09')) dialect = '2019-09';
  else if (typeof declared === 'string' && /draft-0[67]/.test(declared)) dialect = 'draft-07';
  else return undefined;
  let engine = engines.get(dialect);
  if (engine === undefined) {
    const made =
      dialect === '2020-12' ? new Ajv2020(OPTIONS) : dialect === '2019-09' ? new Ajv2019(OPTIONS) : new Ajv(OPTIONS);
    addFormats(made as Ajv);
    engine = made;
    engines.set(dialect, engine);
  }
  return engine;
}

/**
 * The check for a tool's declared input schema, or undefined when the schema cannot be used (not an object,
 * an unknown dialect, a pattern RE2 cannot run, or anything else Ajv refuses). Never throws.
 */
export function compileArgumentCheck(schema: unknown): ArgumentCheck | undefined {
  try {
    const engine = engineFor(schema);
    if (engine === undefined || schema === null || typeof schema !== 'object') return undefined;
    // `$id` is dropped: a server's ids must not name (or collide with) schemas of other tools or servers.
    const { $id: _id, ...own } = schema as Record<string, unknown>;
    const validate = engine.compile(own);
    return (input) => {
      let valid: boolean;
      try {
        valid = validate(input) === true;
      } catch {
        return { valid: false, errorMessage: 'does not match the schema' };
      }
      return valid ? { valid: true } : { valid: false, errorMessage: engine.errorsText(validate.errors) };
    };
  } catch {
    return undefined;
  }
}
