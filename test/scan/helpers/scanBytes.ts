import { dispatch } from '../../../src/scan/formats/dispatch.js';
import { BufferSource, type RandomSource } from '../../../src/scan/io/RandomSource.js';
import { ScanContext } from '../../../src/scan/ScanContext.js';
import { defaultScanLimits, type Finding, type ScanLimits } from '../../../src/scan/index.js';

export interface BytesScan {
  format: string;
  findings: Finding[];
  rules: string[];
}

/** Scans in-memory bytes through the same dispatcher `scanFile` uses. */
export async function scanBytes(bytes: Buffer | RandomSource, name = 'input.bin', limits: Partial<ScanLimits> = {}): Promise<BytesScan> {
  const findings: Finding[] = [];
  const ctx = new ScanContext({ ...defaultScanLimits, ...limits }, findings);
  const src = Buffer.isBuffer(bytes) ? new BufferSource(bytes) : bytes;
  const format = await dispatch.scanSource(src, name, ctx);
  return { format, findings, rules: findings.map((f) => f.rule) };
}

/** Pickle opcode builders (the bytes CPython's pickle module would write). */
export const P = {
  proto: (n: number) => Buffer.from([0x80, n]),
  su: (s: string) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([0x8c, b.length]), b]);
  },
  binunicode: (s: string) => {
    const b = Buffer.from(s);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return Buffer.concat([Buffer.from('X'), len, b]);
  },
  global: (module: string, name: string) => Buffer.from(`c${module}\n${name}\n`),
  op: (...codes: (number | string)[]) => Buffer.from(codes.map((c) => (typeof c === 'string' ? c.charCodeAt(0) : c))),
  cat: (...parts: Buffer[]) => Buffer.concat(parts),
};
