/** Deterministic mutations for the scanner fuzz tests. */
import assert from 'node:assert/strict';
import { severities } from '../../../src/scan/index.js';
import { scanBytes } from './scanBytes.js';

/** mulberry32: small deterministic PRNG so every run mutates the same way. */
export { mulberry32 as prng } from '../../../src/detect/stats/mulberry32.js';

export function mutate(input: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(input);
  const kind = Math.floor(rnd() * 6);
  const at = Math.floor(rnd() * Math.max(1, b.length));
  switch (kind) {
    case 0: // flip bits
      for (let i = 0; i < 1 + Math.floor(rnd() * 4); i++) b[Math.floor(rnd() * b.length)]! ^= 1 << Math.floor(rnd() * 8);
      return b;
    case 1: // interesting bytes
      b[at] = [0x00, 0xff, 0x7f, 0x80, 0x2e, 0x93, 0x28][Math.floor(rnd() * 7)]!;
      return b;
    case 2: // truncate
      return b.subarray(0, at);
    case 3: { // huge little-endian length somewhere
      const v = Buffer.alloc(8);
      v.writeBigUInt64LE(BigInt(Math.floor(rnd() * 2 ** 52)) * 4096n);
      v.copy(b, Math.min(at, Math.max(0, b.length - 8)));
      return b;
    }
    case 4: { // insert random bytes
      const ins = Buffer.alloc(1 + Math.floor(rnd() * 16));
      for (let i = 0; i < ins.length; i++) ins[i] = Math.floor(rnd() * 256);
      return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
    }
    default: { // duplicate a slice
      const end = Math.min(b.length, at + Math.floor(rnd() * 64));
      return Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
    }
  }
}

/** Scans `input` and fails if the scan throws, hangs for 5 s, or returns an invalid finding. */
export async function scanWithDeadline(input: Buffer, name: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scan of mutated ${name} did not finish in 5 s`)), 5000);
  });
  try {
    const r = await Promise.race([scanBytes(input, name), deadline]);
    for (const f of r.findings) {
      assert.ok((severities as readonly string[]).includes(f.severity));
      assert.equal(typeof f.message, 'string');
    }
  } finally {
    clearTimeout(timer);
  }
}
