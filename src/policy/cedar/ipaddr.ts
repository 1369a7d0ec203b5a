import { CedarEvalError } from './errors.js';

/**
 * Cedar `ipaddr`: an address plus prefix length, compared structurally (10.0.0.1/24 is not
 * 10.0.0.0/24). Parsing follows the Cedar spec exactly, which is stricter than Node's
 * `net` module (no leading zeros, no IPv4-embedded IPv6, no zone ids), hence hand-written.
 */
export class IpNet {
  /** Lowest and highest address covered, computed once (isInRange runs on the hot path). */
  readonly lo: bigint;
  readonly hi: bigint;

  constructor(
    readonly v6: boolean,
    readonly addr: bigint,
    readonly prefix: number,
  ) {
    const w = BigInt((v6 ? 128 : 32) - prefix);
    this.lo = (addr >> w) << w;
    this.hi = this.lo + (1n << w) - 1n;
  }

  inRange(other: IpNet): boolean {
    return this.v6 === other.v6 && other.hi >= this.hi && this.lo >= other.lo;
  }

  toString(): string {
    if (!this.v6) {
      const a = Number(this.addr);
      return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${this.prefix}`;
    }
    const groups: string[] = [];
    for (let i = 7; i >= 0; i--) groups.push(((this.addr >> BigInt(i * 16)) & 0xffffn).toString(16));
    return `${groups.join(':')}/${this.prefix}`;
  }
}

const LOOPBACK_V4 = new IpNet(false, 0x7f000000n, 8);
const LOOPBACK_V6 = new IpNet(true, 1n, 128);
const MULTICAST_V4 = new IpNet(false, 0xe0000000n, 4);
const MULTICAST_V6 = new IpNet(true, 0xff00n << 112n, 8);

export function isLoopback(ip: IpNet): boolean {
  return ip.inRange(ip.v6 ? LOOPBACK_V6 : LOOPBACK_V4);
}

export function isMulticast(ip: IpNet): boolean {
  return ip.inRange(ip.v6 ? MULTICAST_V6 : MULTICAST_V4);
}

function parsePrefix(text: string, maxDigits: number, size: number): number | undefined {
  if (text.length === 0 || text.length > maxDigits || !/^[0-9]+$/.test(text)) return undefined;
  if (text.length > 1 && text.startsWith('0')) return undefined;
  const n = Number(text);
  return n <= size ? n : undefined;
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6Groups(text: string): number[] | undefined {
  if (text === '') return [];
  const out: number[] = [];
  for (const g of text.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out.push(parseInt(g, 16));
  }
  return out;
}

function parseV6(text: string): bigint | undefined {
  const halves = text.split('::');
  let groups: number[] | undefined;
  if (halves.length === 1) groups = parseV6Groups(halves[0]!);
  else if (halves.length === 2) {
    const a = parseV6Groups(halves[0]!);
    const b = parseV6Groups(halves[1]!);
    if (!a || !b || a.length + b.length >= 8) return undefined;
    groups = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  }
  if (!groups || groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** Parsed addresses by text: PEPs see the same client addresses again and again. */
const parsed = new Map<string, IpNet>();
const PARSE_CACHE_MAX = 4096;

export function parseIpNet(text: string): IpNet {
  const hit = parsed.get(text);
  if (hit !== undefined) return hit;
  const ip = parseIpNetUncached(text);
  if (parsed.size >= PARSE_CACHE_MAX) parsed.clear();
  parsed.set(text, ip);
  return ip;
}

function parseIpNetUncached(text: string): IpNet {
  const slash = text.split('/');
  if (slash.length <= 2) {
    const v4 = parseV4(slash[0]!);
    if (v4 !== undefined) {
      const prefix = slash.length === 2 ? parsePrefix(slash[1]!, 2, 32) : 32;
      if (prefix !== undefined) return new IpNet(false, v4, prefix);
    } else {
      const v6 = parseV6(slash[0]!);
      const prefix = slash.length === 2 ? parsePrefix(slash[1]!, 3, 128) : 128;
      if (v6 !== undefined && prefix !== undefined) return new IpNet(true, v6, prefix);
    }
  }
  throw new CedarEvalError(`ip: invalid IP address ${JSON.stringify(text)}`);
}
