/**
 * Policy files (YAML). The agent_os_kernel format loads unchanged:
 *
 *   capabilities:
 *     - action: fs.read
 *       resource: /workspace/**
 *     - action: net.http
 *       resource: https://api.example.com/**
 *       constraint: { method: GET }
 *
 * Extensions: per rule `max_uses` (positive integer) and `expires_in` ("500ms", "30s", "10m", "1h", "2d", or
 * a number of seconds), counted from when the rule is granted; a top-level `budget` (docs/architecture.md §6, the top
 * agent's), `labels` (extra sources and sinks) and `tools` (one section per tool that owns one: the built-in
 * proc and http tools register theirs, see `PolicySection`). Unknown keys anywhere are errors, as are
 * duplicate keys, several documents, a `%YAML` version other than 1.2, and invalid action or resource
 * patterns (see resource-match.ts).
 * Every error names the file, line and column of the offending node.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Node } from 'yaml';
import { z } from 'zod';
import { MAX_USES } from '../capability/token.js';
import { type Constraints, constraintsSchema } from '../core/constraint-match.js';
import { IsokernelError } from '../core/errors.js';
import { isActionPattern, resourcePatternError } from '../core/resource-match.js';
import { type LimitField, limitBounds } from '../process/limits.js';

// yaml is loaded on the first policy text, not with the kernel: a run without a policy file (or with an object)
// must not pay for it at CLI start (bench/cli.bench.ts). Its CommonJS build is the same code as its ESM one.
let yamlModule: typeof import('yaml') | undefined;
function yaml(): typeof import('yaml') {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yamlModule;
}

/** Largest policy file read, in bytes. */
export const MAX_POLICY_BYTES = 1024 * 1024;
/** Longest `expires_in`: ten years. */
export const MAX_EXPIRES_IN_MS = 10 * 365 * 24 * 3600 * 1000;

export interface PolicyRule {
  readonly action: string;
  readonly resource: string;
  /** Argument constraints; empty when the rule has none. */
  readonly constraint: Constraints;
  readonly maxUses?: number;
  /** Lifetime of the granted capability, in ms. */
  readonly expiresInMs?: number;
}

export interface Budget {
  readonly cpu_ms?: number;
  readonly wall_ms?: number;
  readonly memory_mb?: number;
  readonly tokens_in?: number;
  readonly tokens_out?: number;
  readonly cost_usd?: number;
  readonly tool_calls?: number;
  readonly syscalls?: number;
  readonly children?: number;
  readonly depth?: number;
  /** Fraction of a limit at which a warning is emitted, in (0, 1]. */
  readonly warn_at?: number;
}

export interface LabelSource {
  readonly tool: string;
  readonly resource?: string;
  readonly tags: readonly string[];
}

export interface LabelSink {
  readonly tool: string;
  readonly arg: string;
  readonly deny: readonly string[];
}

export interface Labels {
  readonly sources: readonly LabelSource[];
  readonly sinks: readonly LabelSink[];
}

/**
 * A section of the policy's `tools:` map, owned by the tool that reads it (the policy never imports tools):
 * its key and the zod schema that validates it. `read` gives the validated value of a loaded policy.
 */
export interface PolicySection<T = unknown> {
  readonly name: string;
  readonly schema: z.ZodType<T>;
  read(policy: Policy): T | undefined;
}

/** Declares a policy section. Throws TypeError for a name that is not a lowercase identifier. */
export function definePolicySection<T>(name: string, schema: z.ZodType<T>): PolicySection<T> {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9_]{0,31}$/.test(name)) {
    throw new TypeError('definePolicySection: name must be a lowercase identifier');
  }
  return Object.freeze({ name, schema, read: (policy: Policy) => policy.tools?.[name] as T | undefined });
}

/** Validated `tools:` sections by name. */
export type ToolsConfig = Readonly<Record<string, unknown>>;

export interface Policy {
  readonly capabilities: readonly PolicyRule[];
  readonly budget?: Budget;
  readonly labels?: Labels;
  readonly tools?: ToolsConfig;
}

/** One problem in a policy, located in its source when it came from text. */
export interface PolicyIssue {
  readonly file: string;
  /** 1-based; 0 when the policy was not text. */
  readonly line: number;
  readonly col: number;
  /** Dotted path of the offending value, e.g. `capabilities[1].resource`; '' for the whole file. */
  readonly path: string;
  readonly message: string;
}

/** Thrown for an invalid policy; `issues` has every problem found, `message` lists them as file:line:col. */
export class PolicyError extends IsokernelError {
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'PolicyError';
    this.issues = issues;
  }
}

/** `file:line:col: path: message` (line and column left out when unknown). Never throws. */
export function formatIssue(issue: PolicyIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.col}` : issue.file;
  return `${where}: ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const TAG = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

const durationSchema = z
  .union([
    z.number().positive().finite(),
    z.string().regex(DURATION, 'must be a duration such as "500ms", "30s", "10m", "1h", "2d" or a number of seconds'),
  ])
  .transform((value) => {
    if (typeof value === 'number') return Math.round(value * 1000);
    const [, amount, unit] = DURATION.exec(value)!;
    return Math.round(Number(amount) * UNIT_MS[unit!]!);
  })
  .refine((ms) => ms >= 1 && ms <= MAX_EXPIRES_IN_MS, 'must be between 1ms and 10 years');

const actionSchema = z.string().refine(isActionPattern, 'not a valid action pattern (e.g. fs.read, tool:*, *)');
const resourceSchema = z.string().superRefine((value, ctx) => {
  const error = resourcePatternError(value);
  if (error !== undefined) ctx.addIssue({ code: 'custom', message: error });
});

const ruleSchema = z.strictObject({
  action: actionSchema,
  resource: resourceSchema,
  constraint: constraintsSchema.nullable().optional(),
  max_uses: z.int().min(1).max(MAX_USES).optional(),
  expires_in: durationSchema.optional(),
});

// Each budget field within the bounds the kernel enforces (see limits.ts), so a policy that loads is one
// the kernel accepts.
const bounded = (field: LimitField, integer = true) => {
  const [min, max] = limitBounds(field);
  return (integer ? z.int() : z.number()).min(min).max(max).optional();
};
const budgetSchema = z.strictObject({
  cpu_ms: bounded('cpu_ms'),
  wall_ms: bounded('wall_ms'),
  memory_mb: bounded('memory_mb'),
  tokens_in: bounded('tokens_in'),
  tokens_out: bounded('tokens_out'),
  cost_usd: bounded('cost_usd', false),
  tool_calls: bounded('tool_calls'),
  syscalls: bounded('syscalls'),
  children: bounded('children'),
  depth: bounded('depth'),
  warn_at: bounded('warn_at', false),
});

const tagsSchema = z.array(z.string().regex(TAG, 'not a valid label tag')).min(1);
const labelsSchema = z.strictObject({
  sources: z
    .array(z.strictObject({ tool: actionSchema, resource: resourceSchema.optional(), tags: tagsSchema }))
    .optional(),
  sinks: z
    .array(
      // `*` names every argument, as in a tool's own sinks: a rule per argument name misses the ones not named.
      z.strictObject({
        tool: actionSchema,
        arg: z.string().regex(/^(?:\*|[A-Za-z_][A-Za-z0-9_]{0,63})$/),
        deny: tagsSchema,
      }),
    )
    .optional(),
});

type PolicyData = {
  capabilities: z.infer<typeof ruleSchema>[];
  budget?: z.infer<typeof budgetSchema> | undefined;
  labels?: z.infer<typeof labelsSchema> | undefined;
  tools?: Record<string, unknown> | undefined;
};

// One schema per set of sections (the kernel passes the same array every time).
const schemas = new WeakMap<readonly PolicySection[], z.ZodType<PolicyData>>();

function policySchema(sections: readonly PolicySection[]): z.ZodType<PolicyData> {
  let schema = schemas.get(sections);
  if (schema === undefined) {
    const tools = Object.fromEntries(sections.map((section) => [section.name, section.schema.optional()]));
    schema = z.strictObject({
      capabilities: z.array(ruleSchema),
      budget: budgetSchema.optional(),
      labels: labelsSchema.optional(),
      tools: z.strictObject(tools).optional(),
    }) as z.ZodType<PolicyData>;
    schemas.set(sections, schema);
  }
  return schema;
}

function checkSections(sections: unknown): readonly PolicySection[] {
  if (!Array.isArray(sections) || sections.some((s) => typeof s?.name !== 'string' || s.schema === undefined)) {
    throw new TypeError('sections must be an array of policy sections (definePolicySection)');
  }
  return sections as readonly PolicySection[];
}

/**
 * Loads a policy from a YAML file path, or validates an already-parsed policy object. `sections` are the
 * `tools:` keys it accepts (none by default; the package entry's `loadPolicy` passes the built-in tools').
 * Throws PolicyError listing every problem (with file:line:col for files, including an unreadable or
 * over-large file), and TypeError when the argument is neither a string nor an object.
 */
export function loadPolicy(pathOrObject: string | object, sections: readonly PolicySection[] = []): Policy {
  checkSections(sections);
  if (typeof pathOrObject === 'string') {
    let text: string;
    try {
      const bytes = readFileSync(pathOrObject);
      if (bytes.length > MAX_POLICY_BYTES) throw new RangeError(`larger than ${MAX_POLICY_BYTES} bytes`);
      text = bytes.toString('utf8');
    } catch (error) {
      const reason = error instanceof RangeError ? error.message : 'cannot be read';
      throw new PolicyError([{ file: pathOrObject, line: 0, col: 0, path: '', message: `policy file ${reason}` }]);
    }
    return loadPolicyText(text, pathOrObject, sections);
  }
  if (typeof pathOrObject !== 'object' || pathOrObject === null) {
    throw new TypeError('pathOrObject must be a file path or a policy object');
  }
  const parsed = policySchema(sections).safeParse(pathOrObject);
  if (!parsed.success) {
    throw new PolicyError(
      parsed.error.issues.map((issue) => ({
        file: '<object>',
        line: 0,
        col: 0,
        path: issuePath(issue),
        message: issue.message,
      })),
    );
  }
  return toPolicy(parsed.data);
}

/**
 * Parses policy YAML; `filename` is only used in messages, `sections` as in `loadPolicy`. Throws PolicyError
 * with the file, line and column of every YAML or schema problem. Throws TypeError when text or filename
 * is not a string.
 */
export function loadPolicyText(text: string, filename: string, sections: readonly PolicySection[] = []): Policy {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (typeof filename !== 'string') throw new TypeError('filename must be a string');
  checkSections(sections);
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, strict: true, uniqueKeys: true, version: '1.2' });
  const at = (offset: number, path: string, message: string): PolicyIssue => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: filename, line, col, path, message };
  };
  const yamlProblems = [...doc.errors, ...doc.warnings];
  if (yamlProblems.length === 0 && doc.directives?.yaml.version !== '1.2') {
    // A `%YAML 1.1` directive would switch to 1.1 rules (`010` is 8, `1:30` is 90, `yes` is true, `<<` merges).
    throw new PolicyError([at(0, '', 'policy must be YAML 1.2 (remove the %YAML directive)')]);
  }
  if (yamlProblems.length > 0) {
    throw new PolicyError(yamlProblems.map((problem) => at(problem.pos[0], '', firstLine(problem.message))));
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new PolicyError([at(0, '', error instanceof Error ? firstLine(error.message) : 'invalid YAML')]);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new PolicyError([at(doc.contents?.range?.[0] ?? 0, '', 'policy must be a mapping with a capabilities list')]);
  }
  const parsed = policySchema(sections).safeParse(data);
  if (!parsed.success) {
    throw new PolicyError(
      parsed.error.issues.map((issue) => at(locate(doc.contents, issue), issuePath(issue), issue.message)),
    );
  }
  return toPolicy(parsed.data);
}

function toPolicy(data: PolicyData): Policy {
  const capabilities = data.capabilities.map(
    (rule): PolicyRule =>
      Object.freeze({
        action: rule.action,
        resource: rule.resource,
        constraint: Object.freeze({ ...(rule.constraint ?? {}) }),
        ...(rule.max_uses === undefined ? {} : { maxUses: rule.max_uses }),
        ...(rule.expires_in === undefined ? {} : { expiresInMs: rule.expires_in }),
      }),
  );
  const labels: Labels | undefined =
    data.labels === undefined
      ? undefined
      : {
          sources: (data.labels.sources ?? []).map((source) => ({
            tool: source.tool,
            tags: source.tags,
            ...(source.resource === undefined ? {} : { resource: source.resource }),
          })),
          sinks: data.labels.sinks ?? [],
        };
  return Object.freeze({
    capabilities: Object.freeze(capabilities),
    ...(data.budget === undefined ? {} : { budget: Object.freeze(stripUndefined(data.budget)) }),
    ...(labels === undefined ? {} : { labels }),
    ...(data.tools === undefined ? {} : { tools: Object.freeze(stripUndefinedSections(data.tools)) }),
  });
}

function stripUndefinedSections(tools: Record<string, unknown>): ToolsConfig {
  return Object.fromEntries(Object.entries(tools).filter(([, v]) => v !== undefined));
}

function stripUndefined(value: Readonly<Record<string, number | undefined>>): Budget {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Budget;
}

function issuePath(issue: z.core.$ZodIssue): string {
  let out = '';
  for (const segment of issue.path) {
    out += typeof segment === 'number' ? `[${segment}]` : `${out === '' ? '' : '.'}${String(segment)}`;
  }
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    out += `${out === '' ? '' : '.'}${key}`;
  }
  return out;
}

// The deepest node on the issue's path: the key itself for unknown or invalid keys, the value otherwise,
// the nearest existing parent when the value is missing.
function locate(root: Node | null, issue: z.core.$ZodIssue): number {
  const { isMap, isPair, isScalar, isSeq } = yaml();
  let node: unknown = root;
  let offset = root?.range?.[0] ?? 0;
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
  const pointAtKey = issue.code === 'unrecognized_keys' || issue.code === 'invalid_key';
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === segment);
      if (pair === undefined) break;
      const keyNode = pair.key as Node;
      const last = i === path.length - 1;
      node = pair.value;
      const target = last && pointAtKey ? keyNode : ((pair.value as Node | null) ?? keyNode);
      offset = target.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (item === undefined) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** Formats ms as the largest whole unit ("10m", "1h", "1500ms"), for tables. Never throws. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
