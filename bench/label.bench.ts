// Label check and label join on the hot path, beside a floor measured in the same run.
// Run: npm run bench -- label (or: node --import tsx bench/label.bench.ts)
import { Bench } from 'tinybench';
import { z } from 'zod';
import { joinLabels, makeLabel } from '../runtime/labels/label.js';
import { LabelRules } from '../runtime/labels/label-rules.js';
import { defineTool } from '../runtime/tool-use/tool-contract.js';
import { report } from './report.js';

const tool = defineTool({
  name: 'email.send',
  description: 'send',
  input: z.unknown(),
  labels: { sinks: { to: ['web', 'email'], body: ['web', 'email'] } },
  run: () => null,
});
const rules = new LabelRules(undefined);
const args = { to: 'a@example.com', subject: 'hi', body: 'text' };
const clean = makeLabel([]);
const tainted = makeLabel(['agent:worker-1', 'secret']);
const web = makeLabel(['web']);
const other = makeLabel(['email', 'secret']);
const denied = new Set(['web', 'email']);
let sink = 0;

// Each iteration runs BATCH operations so tinybench's own per-iteration overhead does not dominate.
const BATCH = 1000;
const bench = new Bench({ time: 1000, warmupTime: 200 });
bench
  .add('label check, clean context', () => {
    for (let i = 0; i < BATCH; i++) sink ^= rules.check(tool, args, clean) === undefined ? 1 : 0;
  })
  .add('label check, tainted context (allowed)', () => {
    for (let i = 0; i < BATCH; i++) sink ^= rules.check(tool, args, tainted) === undefined ? 1 : 0;
  })
  .add('label join', () => {
    for (let i = 0; i < BATCH; i++) sink ^= joinLabels(web, other).length;
  })
  .add('floor: two Set.has', () => {
    for (let i = 0; i < BATCH; i++) sink ^= denied.has(tainted[0]!) || denied.has(tainted[1]!) ? 1 : 0;
  });
await bench.run();
report('labels', bench, [
  {
    name: 'label check (clean context) vs two Set.has',
    task: 'label check, clean context',
    floor: 'floor: two Set.has',
    per: BATCH,
    target: '≤ 50 ns',
  },
  {
    name: 'label check (tainted, allowed) vs two Set.has',
    task: 'label check, tainted context (allowed)',
    floor: 'floor: two Set.has',
    per: BATCH,
    target: '≤ 50 ns',
  },
  { name: 'label join (1 ∪ 2 tags)', task: 'label join', floor: 'floor: two Set.has', per: BATCH },
]);
if (sink === 42) console.log('');
