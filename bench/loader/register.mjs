// `node --import ./bench/loader/register.mjs suite.bench.ts`: runs the benchmark suites' TypeScript the way the
// published build runs (see hooks.mjs). Plain JavaScript because it loads before any TypeScript can.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
