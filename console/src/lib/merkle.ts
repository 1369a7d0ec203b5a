// RFC 9162 §2.1.3.2 inclusion-proof verification with WebCrypto, so the console checks a
// proof itself instead of trusting the server's word that a record is in the log.

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function unhex(text: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new Error('not hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

async function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  const buf = new Uint8Array(1 + left.length + right.length);
  buf[0] = 0x01;
  buf.set(left, 1);
  buf.set(right, 1 + left.length);
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

/** Root hash (hex) implied by a leaf hash and its audit path, or null if the path does not fit the tree size. */
export async function rootFromInclusionProof(index: number, size: number, leafHashHex: string, proofHex: readonly string[]): Promise<string | null> {
  if (!Number.isInteger(index) || index < 0 || index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = unhex(leafHashHex);
  for (const p of proofHex) {
    if (sn === 0) return null;
    const sibling = unhex(p);
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(sibling, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? hex(r.buffer as ArrayBuffer) : null;
}

export async function verifyInclusion(index: number, size: number, leafHashHex: string, proofHex: readonly string[], rootHex: string): Promise<boolean> {
  const root = await rootFromInclusionProof(index, size, leafHashHex, proofHex);
  return root !== null && root === rootHex.toLowerCase();
}
