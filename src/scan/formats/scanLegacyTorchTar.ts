import { readerFromSource } from '../io/ByteReader.js';
import type { RandomSource } from '../io/RandomSource.js';
import { scanPickleStream } from '../pickle/scanPickle.js';
import { GlobalRef } from '../pickle/values.js';
import type { ScanContext } from '../ScanContext.js';

/** Element size of each legacy storage class (torch._utils._element_size). */
const storageElementSize: Record<string, number> = {
  DoubleStorage: 8, FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, LongStorage: 8, IntStorage: 4, ShortStorage: 2,
  CharStorage: 1, ByteStorage: 1, BoolStorage: 1, ComplexFloatStorage: 8, ComplexDoubleStorage: 16, QUInt8Storage: 1,
  QInt8Storage: 1, QInt32Storage: 4,
};

/**
 * `storages` and `tensors` members of a legacy (pre-1.6) torch tar interleave pickles (each one
 * unpickled, so each one scanned) with raw data whose length the preceding pickle declares;
 * this walks that layout exactly as torch.serialization.legacy_load reads it.
 */
export async function scanLegacyTorchTarMember(src: RandomSource, member: 'storages' | 'tensors', ctx: ScanContext): Promise<void> {
  const r = readerFromSource(src);
  const one = async () => scanPickleStream(r, ctx, { single: true, trailingExpected: true });
  const bad = (msg: string): void => ctx.add('pytorch/invalid-legacy', 'medium', `legacy ${member}: ${msg}`, r.offset);
  const head = await one();
  if (!head.complete) return;
  const count = head.lastValue;
  if (typeof count !== 'number' || count < 0 || count > 10_000_000) return bad('count is not a small integer');
  for (let i = 0; i < count; i++) {
    const item = await one();
    if (!item.complete) return;
    const args = item.lastValue;
    if (member === 'storages') {
      const type = Array.isArray(args) ? args[2] : undefined;
      const width = type instanceof GlobalRef ? storageElementSize[type.name] : undefined;
      if (width === undefined) return bad('storage record without a known storage type');
      const sizeBuf = await r.take(8);
      if (sizeBuf === null) return bad('truncated storage size');
      const elements = Number(sizeBuf.readBigInt64LE(0));
      if (elements < 0 || !(await r.skip(elements * width))) return bad('storage data runs past the end');
    } else {
      const ndimBuf = await r.take(8);
      if (ndimBuf === null) return bad('truncated tensor header');
      const ndim = ndimBuf.readInt32LE(0);
      if (ndim < 0 || ndim > 64 || !(await r.skip(16 * ndim + 8))) return bad('invalid tensor header');
    }
  }
  if (member === 'storages') await one(); // storage views
  if (!(await r.atEnd())) ctx.add('pickle/trailing-data', 'medium', `data after the last record of ${member}`, r.offset);
}
