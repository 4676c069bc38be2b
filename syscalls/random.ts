import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Attempt } from '../runtime/audit/attempt.js';
import type { AgentSession } from '../runtime/process/session.js';
import { defineSyscall } from './syscall.js';

/** Bytes of one seed: a ChaCha20 key. */
export const SEED_BYTES = 32;

/**
 * `random()`, internal: 32 bytes from the host's CSPRNG, base64, that seed the guest's ChaCha20 generator
 * behind `crypto.getRandomValues` and `crypto.randomUUID` (isolates/guest/crypto.cjs). Asked once per agent,
 * on first use, so randomness costs one syscall rather than one per call.
 */
export const randomSyscall = defineSyscall({
  name: 'random',
  guest: {
    params: [],
    type: '(): Promise<string>',
    doc: 'A seed for the guest CSPRNG: 32 random bytes from the host, base64.',
    internal: true,
  },
  args: z.tuple([]),
  run(session: AgentSession, _args, attempt: Attempt) {
    attempt.describe('crypto.seed', null, null, session.label, false);
    attempt.begin();
    return randomBytes(SEED_BYTES).toString('base64');
  },
});
