/** A data key wrapped (encrypted) under a key-encryption key (KEK). All fields base64 except ids. */
export interface WrappedDataKey {
  kekId: string;
  alg: 'A256GCM';
  iv: string;
  ciphertext: string;
  tag: string;
}

/**
 * Where key-encryption keys live (a file today; PKCS#11 / cloud KMS later, SPIRE-style plugin
 * seam). Data keys never leave a provider unwrapped except to the caller that unwraps them.
 */
export interface KeyProvider {
  readonly name: string;
  /** Id of the KEK new data keys are wrapped with. */
  currentKeyId(): Promise<string>;
  /** Wraps a data key; `context` (e.g. the blob id) is bound as associated data so wrapped keys cannot be swapped. */
  wrap(dataKey: Uint8Array, context: string): Promise<WrappedDataKey>;
  unwrap(wrapped: WrappedDataKey, context: string): Promise<Buffer>;
  /** Creates a new KEK and makes it current; older KEKs stay available to unwrap until retired. */
  rotate(): Promise<string>;
  listKeyIds(): Promise<string[]>;
}
