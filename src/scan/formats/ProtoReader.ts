import type { RandomSource } from '../io/RandomSource.js';

export class ProtoError extends Error {}

export interface ProtoField {
  field: number;
  wire: number;
  /** Varint value (wire 0). */
  value: number;
  /** Payload range of a length-delimited field (wire 2). */
  start: number;
  end: number;
}

const WINDOW = 1 << 16;

/**
 * Protobuf wire-format reader over a random-access source. Hand-written on purpose: the
 * scanner needs to walk ONNX/TensorFlow messages of several GB without decoding (or even
 * reading) tensor payloads, and without their .proto schemas; protobuf libraries decode whole
 * messages into memory.
 */
export class ProtoReader {
  private win: Buffer = Buffer.alloc(0);
  private winStart = 0;

  constructor(readonly src: RandomSource) {}

  private async load(pos: number, n: number): Promise<void> {
    if (pos >= this.winStart && pos + n <= this.winStart + this.win.length) return;
    this.win = await this.src.read(pos, Math.max(n, WINDOW));
    this.winStart = pos;
  }

  private async varint(pos: number, end: number): Promise<[number, number]> {
    await this.load(pos, Math.min(10, Math.max(1, end - pos)));
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos + i >= end) throw new ProtoError('truncated varint');
      const b = this.win[pos + i - this.winStart];
      if (b === undefined) throw new ProtoError('truncated varint');
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) {
        // Values past 2^53 (only possible for int64 fields we do not interpret) stay approximate.
        return [result, pos + i + 1];
      }
    }
    throw new ProtoError('varint longer than 10 bytes');
  }

  async *fields(start: number, end: number): AsyncGenerator<ProtoField> {
    let pos = start;
    while (pos < end) {
      const [tag, p1] = await this.varint(pos, end);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (field === 0) throw new ProtoError('field number 0');
      switch (wire) {
        case 0: {
          const [v, p2] = await this.varint(p1, end);
          yield { field, wire, value: v, start: p1, end: p2 };
          pos = p2;
          break;
        }
        case 1:
          if (p1 + 8 > end) throw new ProtoError('truncated fixed64');
          yield { field, wire, value: 0, start: p1, end: p1 + 8 };
          pos = p1 + 8;
          break;
        case 5:
          if (p1 + 4 > end) throw new ProtoError('truncated fixed32');
          yield { field, wire, value: 0, start: p1, end: p1 + 4 };
          pos = p1 + 4;
          break;
        case 2: {
          const [len, p2] = await this.varint(p1, end);
          if (p2 + len > end) throw new ProtoError(`field ${field} length ${len} runs past its message`);
          yield { field, wire, value: len, start: p2, end: p2 + len };
          pos = p2 + len;
          break;
        }
        default:
          throw new ProtoError(`unsupported wire type ${wire}`);
      }
    }
  }

  /** A string field (bounded: names and paths, not payloads). */
  async string(f: ProtoField, max = 65_536): Promise<string> {
    const n = Math.min(f.end - f.start, max);
    await this.load(f.start, n);
    return this.win.toString('utf8', f.start - this.winStart, f.start - this.winStart + n);
  }
}
