export { signDsse, preAuthEncoding, IN_TOTO_PAYLOAD_TYPE, type DsseEnvelope } from './dsse.js';
export {
  signerFromPrivateKey,
  loadOrCreateWardenSigningKey,
  readWardenSigningPublicKey,
  keyIdOf,
  spiffeIdOf,
  WARDEN_SIGNING_KEY_FILE,
  type ArtifactSigner,
  type SigningAlgorithm,
} from './signers.js';
export { signStatement, parseAttestation, type AttestationBundle, type ParsedAttestation } from './bundle.js';
export { AttestationVerifier, type AttestationVerifying, type TrustPolicy, type RevocationCheck, type AttestationSigner, type VerifiedAttestation } from './AttestationVerifier.js';
export * from './statements.js';
