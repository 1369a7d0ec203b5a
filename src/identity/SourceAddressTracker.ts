import { BlockList, isIP } from 'node:net';
import { WardenError } from '../errors/index.js';
import { normalizeSerial } from './x509.js';

export interface SourceAddressTrackerOptions {
  /** CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses whose use is never tracked nor alarmed. */
  ignoreCidrs?: readonly string[];
  /** SVIDs remembered at once; the least recently used is forgotten beyond this. */
  maxSvids: number;
  /** Addresses remembered per SVID; the least recently used is forgotten beyond this. */
  maxAddressesPerSvid: number;
  now?: () => number;
}

/** How an SVID's first address was learned: from its issuance request or from its first use. */
export type AddressLearnedFrom = 'issuance' | 'first-use';

export type AddressObservation =
  | { kind: 'ignored' }
  /** First time this SVID is seen: the address is learned, nothing to report. */
  | { kind: 'learned' }
  | { kind: 'known' }
  /** A valid SVID from an address it was never seen from. Not remembered until `accept`. */
  | { kind: 'new'; known: string[]; learnedFrom: AddressLearnedFrom; firstSeenAt: number };

interface SvidAddresses {
  /** Least recently used first. */
  addresses: string[];
  learnedFrom: AddressLearnedFrom;
  firstSeenAt: number;
}

/**
 * `::ffff:10.1.2.3` (IPv4 on a dual-stack socket) and `10.1.2.3` are one address, and so are the
 * two loopback spellings `::1` and `127.0.0.1` ("localhost" resolves to either).
 */
export function normalizeAddress(address: string): string {
  const a = address.toLowerCase();
  if (a === '::1') return '127.0.0.1';
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/** Parses CIDRs / addresses into a BlockList; WARDEN_IDENTITY_CIDR_INVALID names the bad entry. */
export function parseCidrList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const raw of cidrs) {
    const [net, prefix, extra] = raw.trim().split('/');
    const family = isIP(net ?? '');
    const max = family === 4 ? 32 : 128;
    const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!family || extra !== undefined || !(bits >= 0 && bits <= max)) throw new WardenError('WARDEN_IDENTITY_CIDR_INVALID', `not an address or CIDR: ${JSON.stringify(raw).slice(0, 80)}`);
    list.addSubnet(net!, bits, family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/**
 * Remembers which source addresses each X.509-SVID (by serial) was used from, to spot a stolen
 * key and SVID used from somewhere else. Keyed by serial, not SPIFFE ID: replicas sharing a
 * SPIFFE ID each hold their own SVID, and a renewal (new serial) inherits the address it came
 * from. Bounded: at most `maxSvids` × `maxAddressesPerSvid` strings, least recently used evicted
 * (an evicted SVID is learned again on its next use, so a bigger fleet needs a bigger cap).
 */
export class SourceAddressTracker {
  private readonly svids = new Map<string, SvidAddresses>();
  private readonly ignore: BlockList | null;
  private readonly now: () => number;

  constructor(private readonly options: SourceAddressTrackerOptions) {
    if (!(options.maxSvids >= 1) || !(options.maxAddressesPerSvid >= 1)) throw new WardenError('WARDEN_INPUT_INVALID', 'address tracker caps must be at least 1');
    this.ignore = options.ignoreCidrs?.length ? parseCidrList(options.ignoreCidrs) : null;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.svids.size;
  }

  isIgnored(address: string): boolean {
    const a = normalizeAddress(address);
    const family = isIP(a);
    // Not an IP (e.g. a Unix socket): nothing to compare, never alarmed.
    return family === 0 || (this.ignore !== null && this.ignore.check(a, family === 4 ? 'ipv4' : 'ipv6'));
  }

  /** Records an address as known for the SVID without reporting it (issuance, first use, accepted alarm). */
  learn(serial: string, address: string, learnedFrom: AddressLearnedFrom = 'issuance'): void {
    if (this.isIgnored(address)) return;
    const key = normalizeSerial(serial);
    const a = normalizeAddress(address);
    const entry = this.touch(key);
    if (!entry) {
      this.insert(key, { addresses: [a], learnedFrom, firstSeenAt: this.now() });
      return;
    }
    remember(entry.addresses, a, this.options.maxAddressesPerSvid);
  }

  /** One use of a verified SVID from `address`. Cheap on the known path (~0.2 µs): map lookups, no CIDR check. */
  observe(serial: string, address: string): AddressObservation {
    const key = normalizeSerial(serial);
    const a = normalizeAddress(address);
    const entry = this.touch(key);
    // Known first: an ignored address is never stored, and the CIDR check costs ~1 µs.
    const i = entry ? entry.addresses.indexOf(a) : -1;
    if (i >= 0) {
      if (i !== entry!.addresses.length - 1) entry!.addresses.push(...entry!.addresses.splice(i, 1));
      return { kind: 'known' };
    }
    if (this.isIgnored(a)) return { kind: 'ignored' };
    if (!entry) {
      this.insert(key, { addresses: [a], learnedFrom: 'first-use', firstSeenAt: this.now() });
      return { kind: 'learned' };
    }
    return { kind: 'new', known: [...entry.addresses], learnedFrom: entry.learnedFrom, firstSeenAt: entry.firstSeenAt };
  }

  /** The alarm for a new address was raised: remember the address so it fires once. */
  accept(serial: string, address: string): void {
    this.learn(serial, address, 'first-use');
  }

  forget(serial: string): void {
    this.svids.delete(normalizeSerial(serial));
  }

  private touch(key: string): SvidAddresses | undefined {
    const entry = this.svids.get(key);
    if (entry) {
      // Map keeps insertion order: re-inserting makes this the most recently used.
      this.svids.delete(key);
      this.svids.set(key, entry);
    }
    return entry;
  }

  private insert(key: string, entry: SvidAddresses): void {
    if (this.svids.size >= this.options.maxSvids) this.svids.delete(this.svids.keys().next().value as string);
    this.svids.set(key, entry);
  }
}

function remember(addresses: string[], a: string, max: number): void {
  const i = addresses.indexOf(a);
  if (i >= 0) addresses.splice(i, 1);
  addresses.push(a);
  if (addresses.length > max) addresses.splice(0, addresses.length - max);
}
