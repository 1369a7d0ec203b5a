import type { RandomSource } from '../io/RandomSource.js';
import { ProtoReader } from './ProtoReader.js';

/** Which protobuf this is, from its top-level fields (protobufs carry no magic bytes). */
export async function probeProtobuf(src: RandomSource): Promise<'onnx' | 'tf-savedmodel' | null> {
  const p = new ProtoReader(src);
  const fields = new Map<number, number>();
  try {
    let n = 0;
    for await (const f of p.fields(0, src.size)) {
      fields.set(f.field, f.wire);
      if (++n > 10_000) return null;
    }
  } catch {
    return null;
  }
  const onnx = [...fields].every(([f, w]) => [1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25].includes(f) && w === ([1, 5].includes(f) ? 0 : 2));
  if (onnx && (fields.has(7) || fields.has(8))) return 'onnx';
  const tf = [...fields].every(([f, w]) => (f === 1 && w === 0) || (f === 2 && w === 2));
  if (tf && fields.has(2)) return 'tf-savedmodel';
  return null;
}
