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
  // ONNX Runtime skips fields it does not know, so unknown fields must not hide a model: a
  // graph (field 7, length-delimited) is what makes it ONNX.
  if (fields.get(7) === 2 && fields.get(1) !== 2) return 'onnx';
  const tf = [...fields].every(([f, w]) => (f === 1 && w === 0) || (f === 2 && w === 2));
  if (tf && fields.has(2)) return 'tf-savedmodel';
  return null;
}
