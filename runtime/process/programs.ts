import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { KernelError } from '../core/errors.js';
import { fitsBytes } from '../core/payload-size.js';

/** A registered program: agent source the host vouches for, startable by name. */
export interface Program {
  readonly name: string;
  readonly code: string;
  /** SHA-256 of the source, hex: what snapshots record. */
  readonly id: string;
}

const NAME = /^[a-z][a-z0-9_-]{0,63}$/;
/** Agent source larger than this (UTF-8 bytes) is refused before it reaches V8. */
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

/** Where an agent's source comes from: exactly one of a registered program, inline code, or a host file. */
export interface SourceRequest {
  readonly program?: string | undefined;
  readonly code?: string | undefined;
  /** Host only: a path on the host (agents' requests have no such field). */
  readonly file?: string | undefined;
}

/** Source ready to start: the code and the name the agent is listed and traced under. */
export interface AgentSource {
  readonly code: string;
  readonly name: string;
}

/**
 * The one place agent source is loaded, for the host (`kernel.spawn`, `kernel.run`) and for agents
 * (`sys.spawn`, `sys.handoff`): a registered program by name, inline code, or a file the host names (only
 * its base name reaches the guest, in its own stack traces, never the host directory). The request must
 * already hold exactly one source of the right type (the callers' schemas check that). `caller` picks
 * the error kind: for the host, KernelError E_NOT_FOUND for an unknown program, RangeError for source over
 * MAX_CODE_BYTES and the file system's error for an unreadable file; for an agent, KernelError E_NOT_FOUND
 * or E_BAD_ARG prefixed with the syscall.
 */
export function loadAgentSource(
  programs: ProgramRegistry,
  request: SourceRequest,
  caller: 'host' | 'agent',
): AgentSource {
  const prefix = caller === 'host' ? '' : 'sys.spawn: ';
  if (request.program !== undefined) {
    const program = programs.get(request.program);
    if (program === undefined) throw new KernelError('E_NOT_FOUND', `${prefix}no program named "${request.program}"`);
    return { code: program.code, name: program.name };
  }
  const fromFile = caller === 'host' && request.file !== undefined;
  const code = fromFile ? readFileSync(request.file as string, 'utf8') : (request.code ?? '');
  if (!fitsBytes(code, MAX_CODE_BYTES)) {
    if (caller === 'host') throw new RangeError(`agent source exceeds ${MAX_CODE_BYTES} bytes`);
    throw new KernelError('E_BAD_ARG', 'sys.spawn: code is too large');
  }
  return { code, name: fromFile ? basename(request.file as string) : caller === 'host' ? 'agent.js' : 'inline' };
}
