export { loadOrCreateAuthority } from './loadOrCreateAuthority.js';
export type { CertificateAuthority } from './CertificateAuthority.js';
export { FileCertificateAuthority, verifyCsr, type AuthorityOptions } from './FileCertificateAuthority.js';
export type { X509Svid, JwtSvid, ServerCertificate, SpiffeBundle, SpiffeJwk, CaGenerationInfo } from './types.js';
export { FileKeyProvider, type KeyProvider, type KeyAlgorithm } from './KeyProvider.js';
export { parseSpiffeId, isSpiffeId, spiffeIdMatches, spiffePathValue, assertTrustDomain, type SpiffeId } from './SpiffeId.js';
export { RevocationList, type RevocationEntry, type RevocationSnapshot } from './RevocationList.js';
export { IssuedSvidRepository, type IssuedSvidRecord } from './IssuedSvidRepository.js';
export { normalizeSerial, parsePemCertificates } from './x509.js';
