/**
 * Turns the code a model wrote for Code Mode's `execute` into an agent module.
 *
 * The model may write an async arrow function expression (`async () => { ... }`, as Cloudflare's Code Mode
 * asks), a function body that uses `return`, or an ES module whose default export is a function or a value;
 * a fenced Markdown block is unwrapped first. The module it becomes defines `tools` (the typed API: one
 * method per allowed tool, each a `sys.tool` call with the ToolDef's argument mapping) and `console` (lines
 * collected, bounded, returned), runs the code, and returns `{ ok, result, logs }` or
 * `{ ok: false, error: { code, message }, logs }`. `sys.tool` works as well as the typed API.
 *
 * `buildCodeModule` is self-contained on purpose (no imports, no outer references): the agent loop and the MCP
 * server's `execute` embed its source in the programs they spawn, so it runs in an isolate, charged to that
 * agent. Which form the code has is decided by V8's own parser (`Function`, never run). On the host, a parse of
 * code a client chose held the event loop: acorn's check of one scope's declarations is quadratic, 180,000
 * names held it 29 s, charged to nobody (red-team pass 122). A syntax error surfaces when the kernel checks
 * the module (E_BAD_CODE), and goes back to the model like any tool error.
 *
 * Nothing here is a security boundary: the module runs as its own agent, under the capabilities and budget the
 * kernel gave it. Code that tampers with `tools`, `console` or the logs only misleads itself.
 */

/** One tool of the typed API, as the module needs it (a subset of ToolDef). */
export interface CodeTool {
  readonly name: string;
  readonly tool: string;
  readonly rename?: Readonly<Record<string, string>>;
  readonly fixed?: Readonly<Record<string, unknown>>;
}

/** Which of the three forms a piece of model code has, after unfencing. */
export type CodeForm = 'module' | 'expression' | 'body';

/**
 * The agent module that runs `code` with the typed API of `tools`. Never throws for any `code`; a module that
 * does not compile is refused by the kernel with E_BAD_CODE when it is spawned.
 */
export function buildCodeModule(code: string, tools: readonly CodeTool[]): { module: string; form: CodeForm } {
  // `Function` only compiles the text. If the isolate refuses code generation from strings (an EvalError, not a
  // SyntaxError), the shape decides: a function expression starts with `async`, `function`, `(` or `name =>`.
  const parsesAsExpression = (text: string): boolean => {
    try {
      new Function(`return (\n${text}\n);`);
      return true;
    } catch (error) {
      if (error instanceof SyntaxError) return false;
      return /^(?:async\s+)?(?:function\b|\(|[A-Za-z_$][\w$]*\s*=>)/.test(text);
    }
  };
  // A fenced Markdown block: keep the first block's content.
  const fence = /```[A-Za-z0-9_+-]*[^\S\n]*\n([\s\S]*?)```/.exec(code);
  let text = (fence === null ? code : (fence[1] ?? '')).trim();
  let form: CodeForm;
  let entry: string;
  const exported = /(^|[\s;{}])export\s+default\s/.exec(text);
  if (exported !== null) {
    form = 'module';
    const at = exported.index + (exported[1] ?? '').length;
    entry = `${text.slice(0, at)}const __isokernel_entry = ${text.slice(at).replace(/^export\s+default\s/, '')}`;
  } else {
    while (text.endsWith(';')) text = text.slice(0, -1).trimEnd();
    if (text !== '' && parsesAsExpression(text)) {
      form = 'expression';
      entry = `const __isokernel_entry = (\n${text}\n);`;
    } else {
      form = 'body';
      entry = `const __isokernel_entry = async (input) => {\n${text}\n};`;
    }
  }
  const table = JSON.stringify(
    tools.map((tool) => ({
      name: tool.name,
      tool: tool.tool,
      ...(tool.rename === undefined ? {} : { rename: tool.rename }),
      ...(tool.fixed === undefined ? {} : { fixed: tool.fixed }),
    })),
  );
  const prologue = `const __isokernel = (() => {
  const logs = [];
  const show = (value) => {
    if (typeof value === 'string') return value;
    try { const text = JSON.stringify(value); return text === undefined ? String(value) : text; } catch { return String(value); }
  };
  const line = (level) => (...values) => {
    if (logs.length >= 200) return;
    let text = values.map(show).join(' ');
    if (text.length > 2000) text = text.slice(0, 2000) + '…';
    logs.push(level === 'log' ? text : '[' + level + '] ' + text);
  };
  const tools = Object.create(null);
  for (const def of ${table}) {
    tools[def.name] = (args, options) => {
      let mapped = args === undefined ? {} : args;
      if (mapped !== null && typeof mapped === 'object' && !Array.isArray(mapped) && (def.rename || def.fixed)) {
        const out = {};
        for (const key of Object.keys(mapped)) out[def.rename && Object.hasOwn(def.rename, key) ? def.rename[key] : key] = mapped[key];
        if (def.fixed) Object.assign(out, def.fixed);
        mapped = out;
      }
      return sys.tool(def.tool, mapped, options === undefined ? null : options);
    };
  }
  const console = { log: line('log'), info: line('info'), warn: line('warn'), error: line('error'), debug: line('debug') };
  return { logs, tools: Object.freeze(tools), console: Object.freeze(console) };
})();
const tools = __isokernel.tools;
const console = __isokernel.console;
`;
  const epilogue = `
export default async function main(input) {
  try {
    const value = typeof __isokernel_entry === 'function' ? await __isokernel_entry(input) : await __isokernel_entry;
    return { ok: true, result: value === undefined ? null : value, logs: __isokernel.logs };
  } catch (error) {
    let code = 'E_AGENT_FAILED';
    let message = 'the code threw a non-error value';
    try {
      if (error !== null && typeof error === 'object' && typeof error.code === 'string') code = error.code;
      const raw = error !== null && typeof error === 'object' ? error.message : error;
      if (raw !== undefined) message = String(raw).slice(0, 2000);
    } catch {}
    return { ok: false, error: { code, message }, logs: __isokernel.logs };
  }
}
`;
  return { module: `${prologue}${entry}\n${epilogue}`, form };
}
