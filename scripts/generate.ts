// Writes the files generated from the syscall table: guest/sys.d.ts. Run: npm run generate.
import { writeFileSync } from 'node:fs';
import { guestDeclarations } from '../syscalls/guest-declarations.js';

writeFileSync(new URL('../guest/sys.d.ts', import.meta.url), guestDeclarations());
