// Writes the files generated from the sources: guest/sys.d.ts (from the syscall table) and
// docs/api-report.md (the export list of each package entry). Run: npm run generate.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { guestDeclarations } from '../syscalls/guest-declarations.js';
import { apiReport } from './api-report.js';

writeFileSync(new URL('../guest/sys.d.ts', import.meta.url), guestDeclarations());
writeFileSync(
  new URL('../docs/api-report.md', import.meta.url),
  apiReport(fileURLToPath(new URL('..', import.meta.url))),
);
