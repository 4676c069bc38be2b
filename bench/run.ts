// `npm run bench`: the `isokernel bench` command run from the source with tsx (arguments pass through:
// npm run bench -- --quick --json --suite label). See cli/bench.ts.
import { main } from '../cli/main.js';

process.exitCode = await main(['bench', ...process.argv.slice(2)]);
