// Label check and label join on the hot path, beside a floor measured in the same run: two Set.has (the least
// a check of two tags against a deny set can cost).
// Run: npm run bench -- --suite label (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/label.bench.ts)
import { Bench } from 'tinybench';
import { z } from 'zod';
import { joinLabels, makeLabel } from '../runtime/labels/label.js';
import { LabelRules } from '../runtime/labels/label-rules.js';
import { defineTool } from '../runtime/tool-use/tool-contract.js';
import { benchOptions, Figures } from './report.js';

const FLOOR = 'two Set.has of the context’s tags in a deny set';
const figures = new Figures({
  'label.check.clean': {
    what: 'label check of an email.send call, empty context label',
    floor: FLOOR,
    target: { kind: 'p50', maxNs: 50 },
  },
  'label.check.tainted': {
    what: 'label check of an email.send call, context tainted with two tags the sinks allow',
    floor: FLOOR,
    target: { kind: 'p50', maxNs: 50 },
  },
  'label.check.denied': {
    what: 'label check of an email.send call, context tainted with a tag a sink denies (E_TAINT finding)',
    floor: FLOOR,
  },
  'label.join': {
    what: 'label join of a 1-tag and a 2-tag label',
    floor: FLOOR,
    target: { kind: 'p50', maxNs: 30 },
  },
});

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
const bench = new Bench(benchOptions({ time: 1000, warmupTime: 200 }));
bench
  .add('label check, clean context', () => {
    for (let i = 0; i < BATCH; i++) sink ^= rules.check(tool, args, clean) === undefined ? 1 : 0;
  })
  .add('label check, tainted context (allowed)', () => {
    for (let i = 0; i < BATCH; i++) sink ^= rules.check(tool, args, tainted) === undefined ? 1 : 0;
  })
  .add('label check, tainted context (denied)', () => {
    for (let i = 0; i < BATCH; i++) sink ^= rules.check(tool, args, web) === undefined ? 1 : 0;
  })
  .add('label join', () => {
    for (let i = 0; i < BATCH; i++) sink ^= joinLabels(web, other).length;
  })
  .add('floor: two Set.has', () => {
    for (let i = 0; i < BATCH; i++) sink ^= denied.has(tainted[0]!) || denied.has(tainted[1]!) ? 1 : 0;
  });
await bench.run();

const floor = 'floor: two Set.has';
figures.fromTasks('label.check.clean', bench, 'label check, clean context', { floor, per: BATCH });
figures.fromTasks('label.check.tainted', bench, 'label check, tainted context (allowed)', { floor, per: BATCH });
figures.fromTasks('label.check.denied', bench, 'label check, tainted context (denied)', { floor, per: BATCH });
figures.fromTasks('label.join', bench, 'label join', { floor, per: BATCH });
await figures.publish();
if (sink === 42) console.log('');
