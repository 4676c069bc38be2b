import { createHmac, randomBytes } from 'node:crypto';
import { type ErrorCode, isRefusal, ObservedRefusal } from '../core/errors.js';
import { EMPTY_LABEL, holdsSecret, joinLabels, type Label } from '../labels/label.js';
import type { AuditLog } from './audit-log.js';
import { type AuditRecord, type AuditStatus, digestArgs, MAX_RESOURCE_LENGTH } from './record.js';

/** Who made an attempt, as the audit log names it. */
export interface AuditSubject {
  readonly id: string;
  readonly namespace: string;
  readonly parent: string | null;
}

/**
 * One syscall attempt in the audit log: an intent record before the effect and an outcome record after it.
 * Handlers describe what the call acts on as soon as they know (`describe`), then call `begin` right before
 * the effect; a call refused earlier gets both records at `end`. If the log cannot take the intent, `begin`
 * throws E_INTERNAL and the effect does not run: the kernel never acts without a record. `end` never throws.
 */
export class Attempt {
  readonly #log: AuditLog;
  readonly #subject: AuditSubject;
  readonly #syscall: string;
  readonly #started = performance.now();
  #action: string;
  #resource: string | null = null;
  #args: unknown;
  #label: Label | undefined;
  #outcomeLabel: Label | undefined;
  #intent: AuditRecord | undefined;
  #outcome: AuditRecord | undefined;
  #usage: Record<string, number> | undefined;
  #secret = false;
  #effected = false;

  constructor(log: AuditLog, subject: AuditSubject, syscall: string, args: unknown) {
    this.#log = log;
    this.#subject = subject;
    this.#syscall = syscall;
    this.#action = syscall;
    this.#args = args;
  }

  /** performance.now() when the attempt began: the kernel's first look at the call. */
  get startedAt(): number {
    return this.#started;
  }

  /**
   * Names the action, resource and (validated) arguments; only the arguments' digest is stored. The resource
   * of a call labelled `secret` (or the top) is stored as a keyed digest too: a refused exfiltration attempt often carries the
   * secret in its URL or path, and the log must not become the place it leaks to. `resourceIsData: false`
   * says the resource is kernel vocabulary (a tag name), not data, and is kept.
   */
  describe(action: string, resource: string | null, args: unknown, label?: Label, resourceIsData = true): void {
    this.#action = action;
    // A label named later joins the one named before, never replaces it: the first is the caller's context, and
    // every record of the call is data of that caller (red-team pass 77: `sys.read` recorded the handle's label
    // alone, and a clean reader counted a labelled agent's reads).
    if (label !== undefined) this.#label = this.#label === undefined ? label : joinLabels(this.#label, label);
    const joined = this.#label;
    // The top label holds every tag, `secret` among them (red-team pass 67: a call past 64 tags logged the PIN in
    // its path in clear).
    this.#secret = joined !== undefined && holdsSecret(joined);
    // A resource too long for a record is kept as its digest whatever the label: refused by the log, the attempt went
    // unrecorded exactly when the label did not hold `secret`, and a clean agent read which of its unread handles did
    // from `sys.declassify` with 64 long tags, a PIN in one run (red-team pass 154).
    const digested = resource !== null && ((resourceIsData && this.#secret) || resource.length > MAX_RESOURCE_LENGTH);
    this.#resource = digested ? redact(resource) : resource;
    this.#args = args;
  }

  /**
   * Adds `label`'s tags to the outcome record's label (the intent keeps the label the call had): for what the
   * call's outcome depended on beyond that label, so that an agent reading the record takes it.
   */
  raise(label: Label): void {
    if (label.length === 0) return;
    this.#outcomeLabel = joinLabels(this.#outcomeLabel ?? this.#label ?? EMPTY_LABEL, label);
  }

  /** The label of the call's outcome as it stands: what the call has depended on so far. */
  get label(): Label {
    if (this.#outcomeLabel === undefined) return this.#label ?? EMPTY_LABEL;
    return this.#label === undefined ? this.#outcomeLabel : joinLabels(this.#outcomeLabel, this.#label);
  }

  /** Adds quota charged by the call (a tool's reported tokens) to what its outcome records. */
  addUsage(field: string, amount: number): void {
    this.#usage ??= {};
    this.#usage[field] = (this.#usage[field] ?? 0) + amount;
  }

  /**
   * The call's effect has happened: its outcome is `ok` or `error` from now on, never `denied` or `killed`. A call
   * can still fail with a refusal's code after its effect (a tool's result kept as a handle past the handle bound,
   * a redirect after the request was answered), and `denied` recorded a request the server had carried out
   * (red-team pass 151).
   */
  tookEffect(): void {
    this.#effected = true;
  }

  /**
   * Records the intent and hands it to the OS (AuditLog.beforeEffect): the effect comes next, and must not outlive
   * its record in a crash of this process. Throws KernelError E_INTERNAL when the log cannot take it. Idempotent.
   */
  begin(): void {
    if (this.#intent !== undefined) return;
    this.#recordIntent();
    try {
      this.#log.beforeEffect();
    } catch {
      throw unavailable(this.label);
    }
  }

  // The intent record alone: `end` of a call refused before its effect writes it with its outcome, and nothing
  // needs handing to the OS ahead of the usual time.
  #recordIntent(): void {
    if (this.#intent !== undefined) return;
    try {
      this.#intent = this.#log.intent({
        namespace: this.#subject.namespace,
        agent: this.#subject.id,
        parent: this.#subject.parent,
        syscall: this.#syscall,
        action: this.#action,
        resource: this.#resource,
        // A plain digest of a short secret is undone by hashing every candidate (pass 83: a 4-digit PIN from the
        // digest of a refused call in 16 ms): under `secret`, the arguments' digest is keyed, as the resource is.
        ...(this.#secret
          ? { argsDigest: digestArgs(this.#args === undefined ? null : this.#args, REDACTION_KEY) }
          : { args: this.#args }),
        ...(this.#label === undefined ? {} : { label: this.#label }),
      });
    } catch {
      throw unavailable(this.label);
    }
  }

  /**
   * Records the outcome (and the intent, if the call never reached `begin`). `callerEnded`: the caller had ended
   * by now (the outcome's status is then `killed`, whatever the code). Returns the outcome's seq, or null if the
   * log failed. Never throws: the reply to the caller must not depend on the log's health.
   */
  end(code: ErrorCode | null, usage?: Readonly<Record<string, number>>, callerEnded = false): number | null {
    if (this.#outcome !== undefined) return this.#outcome.seq;
    try {
      this.#recordIntent();
      if (this.#intent === undefined) return null;
      if (this.#usage !== undefined) usage = { ...usage, ...this.#usage };
      this.#outcome = this.#log.outcome(this.#intent, {
        status: statusFor(code, callerEnded, this.#effected),
        code,
        durationMs: Math.round((performance.now() - this.#started) * 1000) / 1000,
        ...(usage === undefined ? {} : { usage }),
        ...(this.#outcomeLabel === undefined
          ? {}
          : { label: joinLabels(this.#outcomeLabel, this.#label ?? EMPTY_LABEL) }),
      });
      return this.#outcome.seq;
    } catch {
      return null;
    }
  }
}

// Whether the log takes a record may depend on what the record holds, which the attempt's label decides: whoever is
// refused takes it.
function unavailable(label: Label): ObservedRefusal {
  return new ObservedRefusal('E_INTERNAL', 'the audit log is unavailable', label);
}

// Keyed per process: a plain SHA-256 of a short resource (a URL with a 4-digit PIN in it) is undone by hashing
// every candidate (red-team pass 48); the digest only has to tell records of one run apart.
const REDACTION_KEY = randomBytes(32);

function redact(resource: string): string {
  return `redacted:hmac-sha256:${createHmac('sha256', REDACTION_KEY).update(resource).digest('hex')}`;
}

/**
 * ok; error for any failure after the effect; killed when the caller had already ended; denied when the kernel
 * refused the call; error otherwise. By the caller's state and the effect's, not the code alone: a live parent's
 * `sys.join` of a killed child fails with E_KILLED (pass 77).
 */
function statusFor(code: ErrorCode | null, callerEnded: boolean, effected: boolean): AuditStatus {
  if (code === null) return 'ok';
  if (effected) return 'error';
  if (callerEnded) return 'killed';
  return isRefusal(code) ? 'denied' : 'error';
}
