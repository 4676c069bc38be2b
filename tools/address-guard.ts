/**
 * Which IP addresses the HTTP tool may connect to, and a connector that holds it to that.
 *
 * An agent that can make the kernel fetch URLs can aim it at the host's own network: loopback services, the
 * cloud metadata endpoint (169.254.169.254), the office LAN. Checking the URL's host name is not enough: a
 * name can resolve to anything, resolve differently the second time (DNS rebinding), and an address can be
 * spelled many ways (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`). So the check is made on addresses, at
 * connection time, and the socket is opened to exactly the addresses that were checked:
 * - a literal IP host is checked before any socket is opened;
 * - a name is resolved once, by the connector's own lookup; every address is checked and one blocked address
 *   refuses the whole name (mixed answers are how rebinding attacks hedge); the socket then connects to those
 *   addresses only, with no second resolution;
 * - after connecting, the peer address is checked again, so no path around the lookup can go unnoticed.
 *
 * IPv4 addresses inside IPv6 ones (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
 * judged as the IPv4 address they carry. IPv6 outside global unicast (2000::/3) is refused.
 */

import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction, type Socket } from 'node:net';
import type { buildConnector } from 'undici';
import { LookupQueue } from './lookup-queue.js';
import { loadUndici } from './undici.js';

/** Resolves a host name to IP address strings. Every address it returns is checked before use. */
export type Resolver = (hostname: string) => Promise<readonly string[]>;

/**
 * Raised (inside the connector) when a host is, or resolves to, an address the guard refuses. Its message
 * is fixed: it never lists the resolved addresses, which would let an agent map the internal network.
 */
export class AddressBlockedError extends Error {
  constructor() {
    super('address is private or local');
    this.name = 'AddressBlockedError';
  }
}

/**
 * The most reads one connection is given. Each costs the kernel a few microseconds its meter does not see (the
 * socket's native read, collections): a server that dripped 1-byte writes, as body chunks or as a chunk extension
 * that never ends, had 3 µs a read of the kernel's CPU uncharged (red-team pass 127, review 131). An honest 10 MiB
 * body comes in a few thousand reads; 100,000 chunked rows of NDJSON came in 128.
 */
export const MAX_SOCKET_READS = 65_536;

/** Ends a connection given more than MAX_SOCKET_READS reads. */
export class TooManyReadsError extends Error {
  constructor() {
    super('the connection was given too many reads');
    this.name = 'TooManyReadsError';
  }
}

/** Raised (inside the connector) when a host name cannot be resolved. Fixed message, no resolver detail. */
export class AddressLookupError extends Error {
  constructor() {
    super('host could not be resolved');
    this.name = 'AddressLookupError';
  }
}

// Special-purpose IPv4 ranges (IANA IPv4 Special-Purpose Address Registry, plus multicast and reserved).
const BLOCKED_V4_RANGES: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

// Everything outside global unicast 2000::/3 (unspecified, loopback, IPv4-compatible, unique-local fc00::/7,
// link-local fe80::/10, multicast ff00::/8, discard 100::/64, ...), plus the special blocks inside it.
const BLOCKED_V6_RANGES: readonly (readonly [string, number])[] = [
  ['::', 3],
  ['4000::', 2],
  ['8000::', 1],
  ['2001::', 23], // IETF protocol assignments, including Teredo 2001::/32
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
];

// Node's BlockList matches IPv4 addresses against IPv6 rules through their mapped form (and the reverse), so
// the two families are kept in separate lists and each address is checked against its own family only.
const BLOCKED_V4 = subnetList(BLOCKED_V4_RANGES, 'ipv4');
const BLOCKED_V6 = subnetList(BLOCKED_V6_RANGES, 'ipv6');

function subnetList(ranges: readonly (readonly [string, number])[], type: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, type);
  return list;
}

/** A parsed CIDR block. */
export interface Cidr {
  readonly network: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/**
 * Parses `a.b.c.d/n` or `ipv6/n`; a bare address means a single host (/32 or /128). Returns undefined
 * (never throws) for anything else, including an IPv6 zone or a prefix out of range.
 */
export function parseCidr(text: unknown): Cidr | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const slash = text.indexOf('/');
  const network = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(network);
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash === -1) return { network, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= max ? { network, prefix, family } : undefined;
}

/** The 8 groups of an IPv6 address, or undefined if it is not one. */
function ipv6Groups(ip: string): number[] | undefined {
  if (isIP(ip) !== 6) return undefined;
  // The WHATWG serializer canonicalizes (hex groups only, one `::`), which leaves little to parse.
  let host: string;
  try {
    host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = '', tail] = host.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  const groups = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The IPv4 address an IPv6 address carries and would be routed to (IPv4-mapped, NAT64 well-known prefix,
 * 6to4), or undefined. Never throws.
 */
export function embeddedIpv4(ip: string): string | undefined {
  const g = ipv6Groups(ip);
  if (g === undefined) return undefined;
  const v4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return v4(g[6] ?? 0, g[7] ?? 0);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6] ?? 0, g[7] ?? 0);
  if (g[0] === 0x2002) return v4(g[1] ?? 0, g[2] ?? 0);
  return undefined;
}

/** Options of an AddressGuard. */
export interface AddressGuardOptions {
  /** CIDR blocks that are reachable although private or local (`['127.0.0.1/32']`). Default: none. */
  readonly allowPrivate?: readonly string[];
  /** How host names are resolved. Default: the operating system's resolver (`dns.lookup`). */
  readonly resolve?: Resolver;
}

const systemResolver: Resolver = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true });
  return answers.map((answer) => answer.address);
};

// The thread pool the system resolver runs on is the process's: so is the bound on its lookups.
const systemLookups = new LookupQueue(systemResolver);

/** Whose lookup it is (the calling agent's tenant), and the signal that ends its call. */
export interface LookupCaller {
  readonly owner: string;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Decides which addresses outbound connections may reach, and resolves names so that only decided
 * addresses are ever connected to. Immutable after construction.
 */
export class AddressGuard {
  readonly #allowV4 = new BlockList();
  readonly #allowV6 = new BlockList();
  readonly #resolve: Resolver;
  readonly #lookups: LookupQueue;

  /**
   * Throws TypeError when `allowPrivate` is not an array of CIDR strings (the message names the bad entry's
   * index, not host state) or `resolve` is not a function.
   */
  constructor(options: AddressGuardOptions = {}) {
    const allow = options.allowPrivate ?? [];
    if (!Array.isArray(allow)) throw new TypeError('allowPrivate must be an array of CIDR strings');
    allow.forEach((entry: unknown, index) => {
      const cidr = parseCidr(entry);
      if (cidr === undefined) throw new TypeError(`allowPrivate[${index}] is not a CIDR block such as "127.0.0.1/32"`);
      const list = cidr.family === 4 ? this.#allowV4 : this.#allowV6;
      list.addSubnet(cidr.network, cidr.prefix, cidr.family === 4 ? 'ipv4' : 'ipv6');
    });
    if (options.resolve !== undefined && typeof options.resolve !== 'function') {
      throw new TypeError('resolve must be a function');
    }
    this.#resolve = options.resolve ?? systemResolver;
    this.#lookups = options.resolve === undefined ? systemLookups : new LookupQueue(options.resolve);
  }

  /**
   * True when a connection to `ip` is allowed: a public address, or one inside an `allowPrivate` block.
   * False (never throws) for anything that is not a literal IPv4 or IPv6 address.
   */
  allows(ip: unknown): boolean {
    if (typeof ip !== 'string') return false;
    const family = isIP(ip);
    if (family === 4) return this.#allowV4.check(ip, 'ipv4') || !BLOCKED_V4.check(ip, 'ipv4');
    // Anything the URL parser cannot canonicalize (a zone id such as `fe80::1%eth0`) is refused.
    if (family !== 6 || ipv6Groups(ip) === undefined) return false;
    if (this.#allowV6.check(ip, 'ipv6')) return true;
    const carried = embeddedIpv4(ip);
    if (carried !== undefined) return this.allows(carried);
    return !BLOCKED_V6.check(ip, 'ipv6');
  }

  /**
   * Resolves `hostname` once and checks every address. Resolves to the addresses (all allowed, at least
   * one). A literal IP is checked without resolving. Rejects with AddressBlockedError when any address is
   * refused, AddressLookupError when resolution fails or returns nothing usable. An agent's lookups wait their turn
   * (LookupQueue): a bounded number run at once, and one whose call ended first never runs.
   */
  async resolve(hostname: string, caller?: LookupCaller): Promise<LookupAddress[]> {
    const literal = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
    let answers: readonly string[];
    if (isIP(literal) !== 0) {
      answers = [literal];
    } else {
      try {
        answers =
          caller === undefined
            ? await this.#resolve(hostname)
            : await this.#lookups.lookup(hostname, caller.owner, caller.signal);
      } catch {
        throw new AddressLookupError();
      }
    }
    if (!Array.isArray(answers) || answers.length === 0) throw new AddressLookupError();
    const addresses: LookupAddress[] = [];
    for (const address of answers) {
      const family = isIP(address);
      if (family !== 4 && family !== 6) throw new AddressLookupError();
      if (!this.allows(address)) throw new AddressBlockedError();
      addresses.push({ address, family });
    }
    return addresses;
  }

  /**
   * A `net.connect` lookup function that answers only with addresses `resolve` checked. Honors the
   * `family` and `all` options net passes; reports refusals through the callback, never throws.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) =>
    this.lookupFor(undefined)(hostname, options, callback);

  /** `lookup` for `caller`'s connections: its lookups wait their turn (`resolve`). */
  lookupFor(caller: LookupCaller | undefined): LookupFunction {
    return (hostname, options, callback) => this.#answer(hostname, options, callback, caller);
  }

  #answer(
    hostname: string,
    options: Parameters<LookupFunction>[1],
    callback: Parameters<LookupFunction>[2],
    caller: LookupCaller | undefined,
  ): void {
    this.resolve(hostname, caller).then(
      (checked) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = wanted === 0 ? checked : checked.filter((a) => a.family === wanted);
        const first = usable[0];
        if (first === undefined) callback(new AddressLookupError(), '');
        else if (options.all === true) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => {
        callback(error instanceof Error ? error : new AddressLookupError(), '');
      },
    );
  }
}

/** The connection was given up at the caller's abort signal, before it was established. */
export class ConnectAbortedError extends Error {
  constructor() {
    super('connection aborted');
    this.name = 'ConnectAbortedError';
  }
}

/** Options of `guardedConnector`. */
export interface GuardedConnectorOptions {
  /** Milliseconds allowed for establishing the connection (TCP and TLS). */
  readonly timeoutMs: number;
  /**
   * Ends a connection still being established (its lookup or handshake) when it aborts. undici's own request signal
   * does not reach a connect in progress: an agent's call to a host that drops connection attempts outlived its
   * kill and `kernel.close` by the whole connect timeout (red-team pass 81: 6.6 s for an abort at 0.2 s).
   */
  readonly signal?: AbortSignal;
  /**
   * Runs the connection's reads, charging their time to the calling agent (ToolContext.metered). undici parses what
   * arrives in the socket's 'readable' handler, on the kernel's loop: a server dripping a body in 1-byte chunks took
   * 6.5 s of the kernel's CPU over 8 calls, 42 ms of it charged (red-team pass 127).
   */
  readonly meter?: <T>(call: () => T) => T;
  /** Whose name lookups these are (the calling agent's tenant): they wait their turn (LookupQueue). */
  readonly owner?: string;
  /** Told when a connection to an allowed address is open: the request goes out on it next. */
  readonly onConnected?: () => void;
}

// undici's connector returns the socket it opens (lib/core/connect.js), though its type says void.
type SocketConnector = (options: buildConnector.Options, callback: buildConnector.Callback) => Socket | undefined;

/**
 * An undici connector (for `new Agent({ connect })`) that opens sockets only to addresses `guard` allows:
 * a literal IP host is checked before connecting, a name is resolved once through `guard.lookup`, and the
 * connected peer is checked again. Refusals reach the request as AddressBlockedError or AddressLookupError.
 */
export async function guardedConnector(
  guard: AddressGuard,
  options: GuardedConnectorOptions,
): Promise<buildConnector.connector> {
  const { buildConnector } = await loadUndici();
  const { signal } = options;
  const lookup = options.owner === undefined ? guard.lookup : guard.lookupFor({ owner: options.owner, signal });
  const connect = buildConnector({ lookup, timeout: options.timeoutMs }) as SocketConnector;
  return (opts, callback) => {
    if (isIP(opts.hostname) !== 0 && !guard.allows(opts.hostname)) {
      callback(new AddressBlockedError(), null);
      return;
    }
    if (signal?.aborted === true) {
      callback(new ConnectAbortedError(), null);
      return;
    }
    // Answered once: by the connect, or by the abort, which also destroys the socket so that nothing of the
    // call (a pending handshake holds the process open) outlives it.
    let answered = false;
    let socket: Socket | undefined;
    const abort = (): void => {
      if (answered) return;
      answered = true;
      socket?.destroy();
      callback(new ConnectAbortedError(), null);
    };
    signal?.addEventListener('abort', abort, { once: true });
    socket = connect(opts, (error, connected) => {
      signal?.removeEventListener('abort', abort);
      if (answered) {
        connected?.destroy();
        return;
      }
      answered = true;
      if (error !== null) {
        callback(error, null);
        return;
      }
      if (!guard.allows(connected.remoteAddress)) {
        connected.destroy();
        callback(new AddressBlockedError(), null);
        return;
      }
      if (options.meter !== undefined) meterReads(connected, options.meter);
      options.onConnected?.();
      callback(null, connected);
    });
  };
}

// What the socket receives runs under `meter`: each read's push into the socket's buffer, and each 'readable' event
// (undici's parse of what arrived, and what it hands on). Not nested: one meter at a time charges each moment once.
// Past MAX_SOCKET_READS the connection ends.
function meterReads(socket: Socket, meter: <T>(call: () => T) => T): void {
  let metering = false;
  const metered = <T>(call: () => T): T => {
    if (metering) return call();
    metering = true;
    try {
      return meter(call);
    } finally {
      metering = false;
    }
  };
  const emit = socket.emit as (this: Socket, event: string | symbol, ...args: unknown[]) => boolean;
  socket.emit = function (this: Socket, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'readable') return emit.apply(this, [event, ...args]);
    return metered(() => emit.apply(this, [event, ...args]));
  } as Socket['emit'];
  const push = socket.push;
  let reads = 0;
  socket.push = function (this: Socket, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && ++reads > MAX_SOCKET_READS) {
      socket.destroy(new TooManyReadsError());
      return false;
    }
    return metered(() => push.call(this, chunk, encoding));
  };
}
