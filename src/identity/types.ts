export interface X509Svid {
  spiffeId: string;
  /** Lowercase hex. */
  serial: string;
  /** The leaf alone (PEM). */
  certPem: string;
  /** Leaf + intermediate (PEM): what a workload presents in TLS. */
  chainPem: string;
  /** Trust bundle (roots, PEM). */
  bundlePem: string;
  notBefore: Date;
  notAfter: Date;
}

export interface JwtSvid {
  spiffeId: string;
  token: string;
  audience: string[];
  expiresAt: Date;
}

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
  /** Leaf + intermediate. */
  chainPem: string;
  notAfter: Date;
}

/** JWK as used in a SPIFFE bundle. */
export interface SpiffeJwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  kid?: string;
  use: 'x509-svid' | 'jwt-svid';
  x5c?: string[];
  alg?: string;
}

export interface SpiffeBundle {
  keys: SpiffeJwk[];
  spiffe_sequence: number;
  spiffe_refresh_hint: number;
}

export interface CaGenerationInfo {
  id: string;
  status: 'prepared' | 'active' | 'retired';
  rootNotAfter: string;
  intermediateNotAfter: string;
  /** Serial of the generation's current intermediate (lowercase hex): what revoking it takes. */
  intermediateSerial: string;
  /** Intermediates of this generation a renewal replaced, until they expire: they can be revoked by serial too. */
  supersededIntermediates: { serial: string; notAfter: string }[];
  rootSubject: string;
  jwtKeyId: string;
}
