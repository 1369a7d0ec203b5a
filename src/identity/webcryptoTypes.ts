import type { webcrypto } from 'node:crypto';

// tsconfig has no DOM lib; name Node's WebCrypto types once here.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
export type EcKeyGenParams = webcrypto.EcKeyGenParams;
export type Algorithm = webcrypto.Algorithm;
export type Crypto = webcrypto.Crypto;
