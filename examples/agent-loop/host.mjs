// The agent loop, embedded in a host program. From the repository root, after `npm run build`:
//
//   node --no-node-snapshot examples/agent-loop/host.mjs                 # the scripted model (no network)
//   node --no-node-snapshot examples/agent-loop/host.mjs --code-mode     # the same task in Code Mode
//   OPENAI_API_KEY=sk-... node --no-node-snapshot examples/agent-loop/host.mjs \
//     --base-url https://api.openai.com/v1 --model gpt-4o-mini           # a real endpoint
//
// The loop runs as an agent under policy.yaml: it may read the workspace and make HTTPS requests, and the
// labels keep the private key (and the inbox) from leaving over HTTP, whatever the model decides.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createFsTools, createHttpTool, createModelTool, Kernel } from 'isokernel';
import { startScriptedModel } from './scripted-model.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const { values } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    model: { type: 'string', default: 'scripted' },
    'code-mode': { type: 'boolean', default: false },
  },
});

const scripted = values['base-url'] === undefined ? await startScriptedModel() : undefined;
const baseURL = values['base-url'] ?? scripted.baseURL;

const kernel = Kernel.create({ policy: here('./policy.yaml') });
kernel.tools.add(
  ...createFsTools({ roots: [here('./workspace')] }),
  createHttpTool(),
  createModelTool({
    baseURL,
    apiKeyEnv: 'OPENAI_API_KEY', // read host-side at each call; the agent never sees it
    maxRetries: scripted === undefined ? 2 : 0,
    prices: { '*': { input: 0.15, output: 0.6 } }, // dollars per million tokens
  }),
);

const result = await kernel.runAgentLoop({
  model: values.model,
  instructions: 'You are an assistant with access to the user’s workspace (paths relative to it). Be brief.',
  prompt: 'Check my inbox, then summarise notes/launch.md for me.',
  tools: ['fs.read', 'fs.list', 'net.http'],
  codeMode: values['code-mode'],
  maxTurns: 8,
  onEvent: (event) => {
    const spent = `tokens ${event.usage.tokens_in}/${event.usage.tokens_out}, $${event.usage.cost_usd}`;
    if (event.type === 'tool')
      console.error(`  [turn ${event.turn}] ${event.name} -> ${event.code ?? 'ok'} (${spent})`);
    if (event.type === 'model')
      console.error(`  [turn ${event.turn}] model: ${event.toolCalls} tool call(s) (${spent})`);
  },
});

console.log(result.ok ? result.text : `failed: ${result.error?.code} ${result.error?.message}`);
console.error(
  `ok=${result.ok} turns=${result.turns} label=[${result.label.join(', ')}] audit seq ${result.audit.from}..${result.audit.to}`,
);
await kernel.close();
await scripted?.close();
process.exitCode = result.ok ? 0 : 1;
