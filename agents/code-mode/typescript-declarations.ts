/**
 * TypeScript declarations of the tools Code Mode's `execute` may call, generated from their JSON Schemas
 * (which come from the kernel tools' zod schemas, see `toolDefinition`). A model writes better code against
 * a typed API than against a list of schemas, and the declaration is far smaller than the schemas.
 *
 * The converter covers what `z.toJSONSchema` emits for tool inputs: primitive types, `const`, `enum`,
 * objects (required and optional properties, `additionalProperties`), arrays and tuples (`prefixItems`),
 * `anyOf` / `oneOf` (unions), `allOf` (intersections), nullable type lists. Anything else, a `$ref`, or a
 * schema nested deeper than MAX_DEPTH becomes `unknown`: the kernel still validates every call against the
 * real schema, so a loose declaration costs the model a retry, never a hole.
 */
import type { ToolDef } from '../tool-defs.js';

const MAX_DEPTH = 12;
/** Longest description kept in a doc comment; the rest is cut. */
const MAX_DOC_CHARS = 600;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

type Schema = boolean | Readonly<Record<string, unknown>>;

/** The TypeScript type a JSON Schema describes. Never throws; unknown shapes become `unknown`. */
export function jsonSchemaToTypeScript(schema: unknown, indent = ''): string {
  return typeOf(schema, indent, 0);
}

function typeOf(raw: unknown, indent: string, depth: number): string {
  if (raw === true) return 'unknown';
  if (raw === false) return 'never';
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || depth > MAX_DEPTH) return 'unknown';
  const schema = raw as Readonly<Record<string, unknown>>;
  if (typeof schema['$ref'] === 'string') return 'unknown';
  if ('const' in schema) return literal(schema['const']);
  if (Array.isArray(schema['enum'])) {
    const values = schema['enum'].map(literal);
    return values.length === 0 ? 'never' : values.join(' | ');
  }
  const union = (schema['anyOf'] ?? schema['oneOf']) as unknown;
  if (Array.isArray(union)) return joinTypes(union, ' | ', indent, depth);
  if (Array.isArray(schema['allOf'])) return joinTypes(schema['allOf'], ' & ', indent, depth);
  const type = schema['type'];
  if (Array.isArray(type)) {
    const parts = type
      .filter((t): t is string => typeof t === 'string')
      .map((t) => typeOf({ ...schema, type: t }, indent, depth + 1));
    return parts.length === 0 ? 'unknown' : [...new Set(parts)].join(' | ');
  }
  switch (type) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return arrayType(schema, indent, depth);
    case 'object':
      return objectType(schema, indent, depth);
    default:
      if (schema['properties'] !== undefined) return objectType(schema, indent, depth);
      return 'unknown';
  }
}

function joinTypes(schemas: readonly unknown[], separator: string, indent: string, depth: number): string {
  const parts = schemas.map((item) => typeOf(item, indent, depth + 1)).map((t) => (needsParens(t) ? `(${t})` : t));
  if (parts.length === 0) return separator === ' | ' ? 'never' : 'unknown';
  return [...new Set(parts)].join(separator);
}

function needsParens(type: string): boolean {
  return type.includes(' | ') || type.includes(' & ');
}

function arrayType(schema: Readonly<Record<string, unknown>>, indent: string, depth: number): string {
  const prefix = schema['prefixItems'];
  if (Array.isArray(prefix)) {
    const items = prefix.map((item) => typeOf(item, indent, depth + 1));
    const rest = schema['items'];
    if (rest !== undefined && rest !== false) items.push(`...${wrapArray(typeOf(rest, indent, depth + 1))}[]`);
    return `[${items.join(', ')}]`;
  }
  const items = schema['items'];
  return `${wrapArray(items === undefined ? 'unknown' : typeOf(items, indent, depth + 1))}[]`;
}

function wrapArray(type: string): string {
  return needsParens(type) || type.includes('=>') ? `(${type})` : type;
}

function objectType(schema: Readonly<Record<string, unknown>>, indent: string, depth: number): string {
  const properties = schema['properties'];
  const required = new Set(
    Array.isArray(schema['required']) ? schema['required'].filter((k) => typeof k === 'string') : [],
  );
  const extra = schema['additionalProperties'] as Schema | undefined;
  const inner = `${indent}  `;
  const lines: string[] = [];
  if (properties !== null && typeof properties === 'object' && !Array.isArray(properties)) {
    for (const [key, value] of Object.entries(properties as Record<string, unknown>)) {
      const doc = describe(value);
      if (doc !== undefined) lines.push(`${inner}/** ${doc} */`);
      const name = IDENTIFIER.test(key) ? key : JSON.stringify(key);
      lines.push(`${inner}${name}${required.has(key) ? '' : '?'}: ${typeOf(value, inner, depth + 1)};`);
    }
  }
  if (extra !== undefined && extra !== false) {
    // TypeScript wants every named property assignable to the index signature: with both, the index is unknown.
    const type = extra === true || lines.length > 0 ? 'unknown' : typeOf(extra, inner, depth + 1);
    lines.push(`${inner}[key: string]: ${type};`);
  } else if (lines.length === 0 && extra === undefined) {
    return 'Record<string, unknown>';
  }
  if (lines.length === 0) return '{}';
  return `{\n${lines.join('\n')}\n${indent}}`;
}

function literal(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return JSON.stringify(value);
  }
  return 'unknown';
}

/** A schema's description as one doc-comment line, or undefined. */
function describe(schema: unknown): string | undefined {
  if (schema === null || typeof schema !== 'object') return undefined;
  const text = (schema as Record<string, unknown>)['description'];
  return typeof text === 'string' && text.trim() !== '' ? docText(text) : undefined;
}

/** Text safe inside a `/** … *\/` comment, on one line, bounded. */
export function docText(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim().replaceAll('*/', '*\\/');
  return flat.length > MAX_DOC_CHARS ? `${flat.slice(0, MAX_DOC_CHARS)}…` : flat;
}

/**
 * The declaration of the `tools` object Code Mode code calls: one method per tool, named as the model sees
 * it, taking the tool's arguments and `{ handle?: boolean }` (keep the result in the kernel as an opaque
 * handle). Valid TypeScript for any input (the tests compile it).
 */
export function toolsDeclaration(defs: readonly ToolDef[]): string {
  const lines = ['declare const tools: {'];
  for (const def of defs) {
    lines.push(`  /** ${docText(def.description)} (kernel tool \`${def.tool}\`) */`);
    lines.push(
      `  ${def.name}(args: ${typeOf(def.parameters, '  ', 0)}, options?: { handle?: boolean }): Promise<any>;`,
    );
  }
  lines.push('};');
  return lines.join('\n');
}

/**
 * The description of Code Mode's `execute` tool: what the code may be, how to call tools, what comes back,
 * and the TypeScript declaration of the tools.
 */
export function executeDescription(defs: readonly ToolDef[]): string {
  const example =
    defs[0] === undefined
      ? ''
      : ` (\`await tools.${defs[0].name}({ ... })\` or \`await sys.tool('${defs[0].tool}', { ... })\`)`;
  return [
    'Run JavaScript in a fresh sandboxed agent. Returns { result, logs } or { error: { code, message }, logs }.',
    '`code` is an async arrow function (`async () => { ... }`), a function body that uses `return`, or an ES module',
    'whose default export is a function. No imports, no network or files except through the tools below.',
    `Call tools through the typed API${example}; a refused call throws an Error with a \`code\` (E_CAP_DENIED,`,
    'E_TAINT, E_BAD_ARG, ...). Pass { handle: true } as the second argument to keep a result inside the kernel as an',
    'opaque handle you can pass to other tools without reading it. console.log lines come back in `logs`.',
    '',
    '```ts',
    toolsDeclaration(defs),
    '```',
  ].join('\n');
}
