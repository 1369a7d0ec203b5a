// Hand-built HTTP/2 frames, for what node:http2's client will not send (unfinished header
// blocks, an upload cancelled without END_STREAM).

/** An HTTP/2 frame (RFC 9113 §4.1): 9-byte header (length, type, flags, stream id) and payload. */
export function h2Frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal header field without indexing, new name (RFC 7541 §6.2.2); plain strings of < 127 bytes. */
export const hpackLiteral = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);

/** A header block of literal fields (see hpackLiteral). */
export const hpack = (headers: [string, string][]): Buffer => Buffer.concat(headers.map(([k, v]) => hpackLiteral(k, v)));
