// Runs every bench/*.bench.ts in its own process (so one suite's isolates and heap do not skew the next).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv[2];
const suites = readdirSync(dir)
  .filter((file) => file.endsWith('.bench.ts') && (only === undefined || file.includes(only)))
  .sort();
let failed = 0;
for (const suite of suites) {
  console.log(`\n=== ${suite}`);
  const child = spawnSync(process.execPath, ['--no-node-snapshot', '--import', 'tsx', `${dir}${suite}`], {
    stdio: 'inherit',
  });
  if (child.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
