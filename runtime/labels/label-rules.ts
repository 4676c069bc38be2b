import { matchAction, matchResource, matchResourceAtOrBelow } from '../core/resource-match.js';
import type { Labels as PolicyLabels } from '../policy/policy.js';
import type { ObservedScope, Tool } from '../tool-use/tool-contract.js';
import { toolAction } from '../tool-use/tool-contract.js';
import { EMPTY_LABEL, forbiddenTags, joinLabels, type Label, makeLabel } from './label.js';
import { foldedSourcePatterns, foldedSpellings } from './source-spellings.js';

/**
 * Which tags a tool's results carry (sources) and which tags may not reach which of its arguments (sinks),
 * from the tool's own declaration and the policy's `labels:` section. The kernel, not the caller, decides:
 * agents cannot name or lower the label of anything they pass or receive.
 *
 * Sources: a result carries the tool's declared source tags plus the tags of every policy source that names
 * the tool (by name, action or action pattern such as `email.*`), or an action the tool observes (fs.list
 * observes what fs.read reads), and, if it gives one, a resource pattern matching the call's resource (or,
 * for a tool that observes a subtree, a resource below it).
 * Sinks: the tool declares denied tags per argument name (`*` for every argument); a policy sink for the same
 * tool and argument adds to the tool's list. A policy can only tighten: removing a tag from data takes a
 * `label.declassify` capability, never a policy line. A rule applies when
 * its argument is present in the call, always for `*`, and always when the arguments are not an object.
 */
export interface TaintFinding {
  readonly arg: string;
  readonly tags: Label;
}

type Scope = ObservedScope;

interface CompiledTool {
  /** The tool's own source tags. */
  readonly source: Label;
  /**
   * The policy sources that can tag this tool's results: their resource pattern (undefined: any resource),
   * how it is matched, and their tags.
   */
  readonly policySources: readonly {
    readonly resource: string | undefined;
    /** For a URL pattern, its folded forms, matched on a resource's folded spellings (source-spellings.ts). */
    readonly folded: readonly string[];
    readonly scope: Scope;
    readonly tags: Label;
  }[];
  readonly sinks: readonly (readonly [arg: string, deny: Label])[];
  /**
   * Per call label, the sink rules it breaks, in rule order, each with the tags it may not pass: what is left
   * to decide per call is only which arguments are present. Keyed by frozen labels only (see joinLabels).
   */
  readonly broken: WeakMap<Label, readonly TaintFinding[]>;
}

export class LabelRules {
  readonly #sources: readonly { tool: string; resource: string | undefined; tags: Label }[];
  readonly #sinks: readonly { tool: string; arg: string; deny: Label }[];
  // Tools are frozen at definition, so their compiled rules can be cached for the kernel's lifetime.
  readonly #compiled = new WeakMap<Tool, CompiledTool>();

  /** Throws TypeError for malformed tags (a policy from loadPolicy is already valid). */
  constructor(policy: PolicyLabels | undefined) {
    this.#sources = (policy?.sources ?? []).map((source) => ({
      tool: source.tool,
      resource: source.resource,
      tags: makeLabel(source.tags, 'policy.labels.sources.tags'),
    }));
    this.#sinks = (policy?.sinks ?? []).map((sink) => ({
      tool: sink.tool,
      arg: sink.arg,
      deny: makeLabel(sink.deny, 'policy.labels.sinks.deny'),
    }));
  }

  /**
   * The tags a result (or a failure) of `tool` acting on `resource` carries beyond its inputs' label: the
   * tool's own source tags, and those of every policy source that names the tool or an action it observes
   * (`labels.observes`) and matches the resource (or, for a `subtree` observer, a resource below it).
   */
  sourceTags(tool: Tool, resource: string): Label {
    const compiled = this.#compile(tool);
    let label = compiled.source;
    for (const source of compiled.policySources) {
      if (source.resource !== undefined && source.scope !== 'anywhere') {
        if (!sourceMatches(source.resource, source.folded, source.scope, resource)) continue;
      }
      label = joinLabels(label, source.tags);
    }
    return label;
  }

  /**
   * The first sink rule `callLabel` breaks for a call of `tool` with `args`, or undefined when the call may
   * proceed. Arguments are the top-level keys of `args`; a non-object (a bare string a tool also accepts, an
   * array) has no keys to tell its arguments apart, so every rule covers it.
   */
  check(tool: Tool, args: unknown, callLabel: Label): TaintFinding | undefined {
    if (callLabel.length === 0) return undefined;
    const present = args !== null && typeof args === 'object' && !Array.isArray(args) ? args : undefined;
    const compiled = this.#compile(tool);
    let broken = compiled.broken.get(callLabel);
    if (broken === undefined) {
      const findings: TaintFinding[] = [];
      for (const [arg, deny] of compiled.sinks) {
        const tags = forbiddenTags(callLabel, deny);
        if (tags.length > 0) findings.push(Object.freeze({ arg, tags }));
      }
      broken = Object.freeze(findings);
      if (Object.isFrozen(callLabel)) compiled.broken.set(callLabel, broken);
    }
    // Indexed, not `for…of`: this runs on every tool call with a tainted context.
    for (let i = 0; i < broken.length; i++) {
      const finding = broken[i] as TaintFinding;
      if (finding.arg === '*' || present === undefined || Object.hasOwn(present, finding.arg)) return finding;
    }
    return undefined;
  }

  #compile(tool: Tool): CompiledTool {
    let compiled = this.#compiled.get(tool);
    if (compiled === undefined) {
      const sinks = new Map<string, Label>();
      for (const [arg, deny] of Object.entries(tool.labels?.sinks ?? {})) {
        sinks.set(arg, makeLabel(deny, 'tool.labels.sinks'));
      }
      for (const sink of this.#sinks) {
        if (namesTool(sink.tool, tool)) sinks.set(sink.arg, joinLabels(sinks.get(sink.arg) ?? EMPTY_LABEL, sink.deny));
      }
      const source =
        tool.labels?.source === undefined ? EMPTY_LABEL : makeLabel(tool.labels.source, 'tool.labels.source');
      const observed = tool.labels?.observes?.actions ?? [];
      const scope = tool.labels?.observes?.scope ?? 'resource';
      const policySources: CompiledTool['policySources'][number][] = [];
      for (const rule of this.#sources) {
        // Sources naming the tool itself match its resource (or, for a subtree observer, what lies below);
        // sources naming an action it observes apply in the declared scope.
        const folded = rule.resource === undefined ? [] : foldedSourcePatterns(rule.resource);
        if (namesTool(rule.tool, tool)) {
          policySources.push({
            resource: rule.resource,
            folded,
            scope: scope === 'subtree' ? 'subtree' : 'resource',
            tags: rule.tags,
          });
        } else if (observed.some((action) => matchAction(rule.tool, action))) {
          policySources.push({ resource: rule.resource, folded, scope, tags: rule.tags });
        }
      }
      compiled = { source, policySources, sinks: [...sinks], broken: new WeakMap() };
      this.#compiled.set(tool, compiled);
    }
    return compiled;
  }
}

// A source matches a resource on its own spelling, or else a folded spelling of it on a folded form of the pattern:
// folding can add a tag and never drop one.
function sourceMatches(pattern: string, folded: readonly string[], scope: Scope, resource: string): boolean {
  const match = scope === 'subtree' ? matchResourceAtOrBelow : matchResource;
  if (match(pattern, resource)) return true;
  if (folded.length === 0) return false;
  for (const spelling of foldedSpellings(resource)) {
    for (const form of folded) if (match(form, spelling)) return true;
  }
  return false;
}

// A policy rule names a tool by its name or its action, or by an action pattern (`email.*`, `*`) as the
// policy schema allows: a pattern that matched nothing would leave data unlabelled and sinks open.
function namesTool(name: string, tool: Tool): boolean {
  return name === tool.name || matchAction(name, tool.name) || matchAction(name, toolAction(tool));
}
