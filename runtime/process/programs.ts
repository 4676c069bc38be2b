import { createHash } from 'node:crypto';
import { fitsBytes } from '../core/payload-size.js';

/** A registered program: agent source the host vouches for, startable by name. */
export interface Program {
  readonly name: string;
  readonly code: string;
  /** SHA-256 of the source, hex: what snapshots record. */
  readonly id: string;
}

const NAME = /^[a-z][a-z0-9_-]{0,63}$/;
/** Agent source larger than this is refused before it reaches V8. */
export const MAX_CODE_BYTES = 4 * 1024 * 1024;

/** The id of agent source: its SHA-256, hex. */
export function programId(code: string): string {
  return createHash('sha256').update(code).digest('hex');
}

/**
 * Programs the host registered (`kernel.programs.add(name, code)`). Agents start them by name with
 * `sys.spawn({ program })` and `sys.handoff({ to })`; starting unregistered source needs `agent.spawn`.
 */
export class ProgramRegistry {
  readonly #programs = new Map<string, Program>();

  /** Registers (or replaces) a program. Throws TypeError for a malformed name, RangeError for oversized code. */
  add(name: string, code: string): this {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new TypeError('programs.add: name must be a lowercase identifier such as "summarizer"');
    }
    if (typeof code !== 'string' || code.trim() === '') throw new TypeError('programs.add: code must be agent source');
    if (!fitsBytes(code, MAX_CODE_BYTES)) throw new RangeError(`programs.add: code exceeds ${MAX_CODE_BYTES} bytes`);
    this.#programs.set(name, Object.freeze({ name, code, id: programId(code) }));
    return this;
  }

  /** The program with this name, or undefined. Safe for agent-supplied names (a Map). */
  get(name: string): Program | undefined {
    return this.#programs.get(name);
  }

  list(): Program[] {
    return [...this.#programs.values()];
  }
}
