import { createRequire } from 'node:module';

/** The isolated-vm the suite runs against (5.0.4 on Node 20; CI also runs 7.x on Node 24, see .ci/node24). */
export const ISOLATED_VM_VERSION: string = (
  createRequire(import.meta.url)('isolated-vm/package.json') as { version: string }
).version;

const atLeast = (version: string, floor: readonly number[]): boolean => {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < floor.length; i++) {
    const part = parts[i] ?? 0;
    const min = floor[i] ?? 0;
    if (part !== min) return part > min;
  }
  return true;
};

/**
 * Whether each known inline hole that some supported runtime closes still opens on this one (SECURITY.md,
 * "Known open holes"). Where a hole is open, its `it.fails` pin must observe the hole's own symptom; where it
 * is closed, the same attack must be contained by the inline kernel too (the stronger assertion). Observed:
 * Node 20 + isolated-vm 5.0.4, all open; Node 24 + isolated-vm 7.0.1, these two closed (H3, H4 and H5 open on
 * both, so their pins are unconditional).
 * H1 / H1b: isolated-vm ran agent getters while copying a thrown value or a rejection reason out of the isolate,
 * where disposal did not stop them. A plain isolated-vm probe (a module throwing an error whose message getter
 * loops, then dispose) hangs the process on Node 20 + 5.0.4 and on Node 22 + 6.2.0, and exits at once on Node 24
 * with 7.0.0 and 7.0.1: closed from isolated-vm 7 (Node 24 only), not by the GHSA-864f-rcv7-6rh4 fix. H1b is
 * the same copy path (observed closed on 7.0.1). A runtime where the facts differ fails the pin (or the
 * containment test) and someone looks.
 */
export const HOLE_OPEN_INLINE = {
  H1: !atLeast(ISOLATED_VM_VERSION, [7]),
  H1b: !atLeast(ISOLATED_VM_VERSION, [7]),
} as const;

/**
 * Whether the host links OpenSSL 3.0 (Node 20; 3.0.19 observed). Its Ed25519 verify has no small-order
 * checks: for the identity key, R = identity and S = 0 verify on any message. OpenSSL 3.5 (3.5.9 observed,
 * Node 22 and 24) refuses that forgery itself and splits from noble on more edge vectors. Tests that pin what
 * raw OpenSSL does (the controls that show why the kernel's Ed25519 rule exists) pin it per line; what the
 * kernel's verifiers do is the same on both.
 */
export const OPENSSL_3_0: boolean = process.versions.openssl.startsWith('3.0.');
