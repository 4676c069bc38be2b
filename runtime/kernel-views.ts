/**
 * What host code sees of the kernel's authority and audit log: read-only views. Every change to what agents
 * may do goes through the kernel's audited host actions (`grant`, `delegate`, `revoke`, and `addTrustAnchor`
 * here), and records are appended only by the kernel, so host code holding a `Kernel` cannot sign, debit or
 * revoke a capability, or write or close the log, without a record of it.
 */
import type { AuditLog } from './audit/audit-log.js';
import type { AuditView } from './audit/audit-view.js';
import type { AuditCheckpoint } from './audit/checkpoint.js';
import { type AuditConsistencyProof, type AuditInclusionProof, verifyRecordInclusion } from './audit/proof.js';
import type { AuditRecord } from './audit/record.js';
import type { CapabilityAuthority, CapabilitySummary } from './capability/authority.js';
import type { Capability, CapabilityResult } from './capability/token.js';
import { EMPTY_LABEL } from './labels/label.js';

/** A capability summary as the host reads it, with the label of what its remaining uses tell of. */
export interface LabelledCapabilitySummary extends CapabilitySummary {
  /**
   * The label of the uses that moved its counters (empty when no link is counted): `remainingUses` tells of them,
   * as `sys.caps` raises an agent that reads it (review 99: a `secret` use showed as one use fewer, clean).
   */
  readonly label: readonly string[];
}

/** `summaries` with each counted one's observed label. */
export function labelledSummaries(
  authority: CapabilityAuthority,
  summaries: readonly CapabilitySummary[],
): LabelledCapabilitySummary[] {
  return summaries.map((summary) => ({
    ...summary,
    label: summary.remainingUses === null ? EMPTY_LABEL : authority.observedLabel([summary.id]),
  }));
}

/** `kernel.authority`: what the host may read of the capability authority, and whom it trusts. */
export interface AuthorityView {
  /** The kernel's root public key (base64url): the anchor every policy and `grant` capability chains to. */
  readonly rootPublicKey: string;
  /**
   * Trusts another key's root capabilities (a host service, a human approver), so chains it signed verify.
   * Audited like `grant`. Throws TypeError for a malformed key.
   */
  addTrustAnchor(publicKey: string | Uint8Array): void;
  /**
   * Verifies a token, or a delegation chain root first, against the trust anchors (signatures, linkage: each
   * link the child of the one before) and remembers it so its holder can present it; then judges it usable now:
   * E_CAP_EXPIRED when a link is outside its validity window, E_CAP_REVOKED when one is revoked (a capability
   * not yet valid stays registered for later). Mints nothing: only what an anchor signed verifies. Never throws
   * for a malformed token: E_CAP_DENIED and the other failures are results.
   */
  verify(tokens: string | readonly string[]): CapabilityResult<Capability>;
  /**
   * The live capabilities of a holder (an agent id or a public key), with remaining uses, expiry, and the label of
   * the uses that moved their counters.
   */
  list(holder: string): LabelledCapabilitySummary[];
  /** A capability the authority knows, by id. */
  get(id: string): Capability | undefined;
  /** A known capability's portable chain, root first: what `isokernel/token` verifies elsewhere. */
  exportChain(id: string): readonly string[] | undefined;
}

/** `kernel.audit`: reading, proving and verifying the audit log; only the kernel appends to it. */
export interface AuditReader {
  /** Number of records, which is also the next seq. */
  readonly size: number;
  /** The checkpoints signed so far, oldest first. */
  readonly checkpoints: readonly AuditCheckpoint[];
  readonly latestCheckpoint: AuditCheckpoint;
  /** Merkle root over the first `size` records (default all). Throws RangeError outside [0, this.size]. */
  root(size?: number): string;
  /**
   * Recent records (the kernel keeps the last 10 000 in memory whatever the store), oldest first: of one
   * namespace when given, with seq > `after`, at most `limit` (default 1000).
   */
  records(query?: { readonly namespace?: string; readonly after?: number; readonly limit?: number }): AuditRecord[];
  /** Signs a checkpoint of the log as it is now, so later proofs are anchored by a signature. */
  checkpoint(): AuditCheckpoint;
  /** Inclusion proof for record `seq` (against the latest checkpoint when it covers the record). */
  prove(seq: number): AuditInclusionProof;
  /** Consistency proof from the tree of `oldSize` records to the tree of `newSize` (default all). */
  proveConsistency(oldSize: number, newSize?: number): AuditConsistencyProof;
  /**
   * True when `proof` shows that `record`, as it is now, is in this log under a checkpoint signed by this
   * kernel's root key. Never throws for malformed input.
   */
  verify(record: AuditRecord, proof: AuditInclusionProof): boolean;
}

/** Builds `kernel.authority`. `trust` runs `addTrustAnchor` as an audited host action. */
export function authorityView(
  authority: CapabilityAuthority,
  hooks: { trust(publicKey: string | Uint8Array): void; holderKey(holder: string): string },
): AuthorityView {
  return Object.freeze({
    rootPublicKey: authority.rootPublicKey,
    addTrustAnchor: (publicKey: string | Uint8Array) => hooks.trust(publicKey),
    verify: (tokens: string | readonly string[]) => {
      const imported = authority.import(tokens);
      return imported.ok ? authority.standing(imported.value.id) : imported;
    },
    list: (holder: string) => labelledSummaries(authority, authority.list(hooks.holderKey(holder))),
    get: (id: string) => authority.get(id),
    exportChain: (id: string) => authority.exportChain(id),
  });
}

const DEFAULT_RECORDS_LIMIT = 1000;

/** Builds `kernel.audit` over the log and the view that keeps its recent records. */
export function auditReader(log: AuditLog, recent: AuditView, rootPublicKey: Uint8Array): AuditReader {
  return Object.freeze({
    get size() {
      return log.size;
    },
    get checkpoints() {
      return log.checkpoints;
    },
    get latestCheckpoint() {
      return log.latestCheckpoint;
    },
    root: (size?: number) => (size === undefined ? log.root() : log.root(size)),
    records: (query: { readonly namespace?: string; readonly after?: number; readonly limit?: number } = {}) => {
      const namespaces = query.namespace === undefined ? undefined : new Set([query.namespace]);
      return recent.query(namespaces, query.after ?? -1, query.limit ?? DEFAULT_RECORDS_LIMIT);
    },
    checkpoint: () => log.checkpoint(),
    prove: (seq: number) => log.prove(seq),
    proveConsistency: (oldSize: number, newSize?: number) =>
      newSize === undefined ? log.proveConsistency(oldSize) : log.proveConsistency(oldSize, newSize),
    verify: (record: AuditRecord, proof: AuditInclusionProof) => {
      try {
        return verifyRecordInclusion(record, proof, { trustedKeys: [rootPublicKey] });
      } catch {
        return false;
      }
    },
  });
}
