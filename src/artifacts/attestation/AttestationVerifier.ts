import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { Verifier, toSignedEntity, toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { toDSSEBundle } from '@sigstore/bundle';
import { WardenError } from '../../errors/index.js';
import { IN_TOTO_STATEMENT_V1, type InTotoStatement } from '../manifest/index.js';
import { IN_TOTO_PAYLOAD_TYPE } from './dsse.js';
import { parseAttestation } from './bundle.js';
import { keyIdOf, spiffeIdOf } from './signers.js';

/** The revocation seam: identity's RevocationList answers this (SPIFFE ID, certificate serial, key id). */
export type RevocationCheck = (subject: { spiffeId?: string; serial?: string; keyId?: string }) => boolean;

export interface TrustPolicy {
  /** Trusted signing public keys (PEM or KeyObject): the Warden artifact-signing key and any extra keys. */
  publicKeys?: (string | KeyObject)[];
  /** CA certificates (PEM) that issue workload X.509-SVIDs. */
  caCertificates?: string[];
  /** When non-empty, a certificate signer's SPIFFE ID must start with one of these. */
  allowedSpiffeIds?: string[];
  isRevoked?: RevocationCheck;
  now?: () => Date;
}

export interface AttestationSigner {
  kind: 'key' | 'certificate';
  keyId: string;
  spiffeId?: string;
  serial?: string;
}

export interface VerifiedAttestation<P = unknown> {
  statement: InTotoStatement<P>;
  signer: AttestationSigner;
}

/** What the registry needs from a verifier (the trust policy may be rebuilt between calls). */
export interface AttestationVerifying {
  verify<P = unknown>(input: unknown): VerifiedAttestation<P>;
}

function splitPemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/**
 * Verifies DSSE attestations. The signature check itself (PAE + key) is done by @sigstore/verify's
 * Verifier; Warden decides which key that is: a trusted public key by id, or the key of an
 * X.509-SVID that chains to a trusted CA, is within validity and is not revoked. (Sigstore's own
 * certificate path needs Fulcio timestamps and SCTs, which private SPIFFE CAs do not produce.)
 */
export class AttestationVerifier implements AttestationVerifying {
  private readonly keys = new Map<string, KeyObject>();
  private readonly cas: X509Certificate[];

  constructor(private readonly policy: TrustPolicy) {
    for (const k of policy.publicKeys ?? []) {
      const key = typeof k === 'string' ? createPublicKey(k) : k.type === 'private' ? createPublicKey(k) : k;
      this.keys.set(keyIdOf(key), key);
    }
    this.cas = (policy.caCertificates ?? []).flatMap(splitPemCertificates).filter((c) => c.ca);
  }

  get trustedKeyIds(): string[] {
    return [...this.keys.keys()];
  }

  verify<P = unknown>(input: unknown): VerifiedAttestation<P> {
    const parsed = parseAttestation(input);
    const now = this.policy.now?.() ?? new Date();
    let certSigner: { key: KeyObject; signer: AttestationSigner } | undefined;
    if (parsed.certificateDer) certSigner = this.checkCertificate(parsed.certificateDer, parsed.intermediatesDer ?? [], now);

    const payload = Buffer.from(parsed.envelope.payload, 'base64');
    let revoked: AttestationSigner | undefined;
    let badSignature = false;
    for (const sig of parsed.envelope.signatures) {
      // DSSE keyids are unauthenticated hints: use the named key, else try every trusted key.
      const candidates: { key: KeyObject; signer: AttestationSigner }[] = [];
      if (certSigner) candidates.push(certSigner);
      else {
        const keyId = sig.keyid || parsed.keyHint || '';
        const named = this.keys.get(keyId);
        if (named) candidates.push({ key: named, signer: { kind: 'key', keyId } });
        else for (const [id, key] of [...this.keys].slice(0, 64)) candidates.push({ key, signer: { kind: 'key', keyId: id } });
      }
      const signature = Buffer.from(sig.sig, 'base64');
      const match = candidates.find((c) => this.sigstoreVerify(payload, parsed.envelope.payloadType, signature, c.key));
      if (!match) {
        if (certSigner || this.keys.has(sig.keyid || parsed.keyHint || '')) badSignature = true;
        continue;
      }
      const signer = match.signer;
      if (this.policy.isRevoked?.({ keyId: signer.keyId, ...(signer.spiffeId ? { spiffeId: signer.spiffeId } : {}), ...(signer.serial ? { serial: signer.serial } : {}) })) {
        revoked = signer;
        continue;
      }
      return { statement: parseStatement<P>(parsed.envelope.payloadType, payload), signer };
    }
    if (revoked) throw new WardenError('WARDEN_ATTESTATION_SIGNER_REVOKED', `the signer ${revoked.spiffeId ?? `key ${revoked.keyId.slice(0, 16)}`} is revoked`);
    if (badSignature) throw new WardenError('WARDEN_ATTESTATION_SIGNATURE_INVALID', 'the DSSE signature does not verify');
    throw new WardenError('WARDEN_ATTESTATION_SIGNER_UNTRUSTED', 'no signature is by a trusted key');
  }

  private sigstoreVerify(payload: Buffer, payloadType: string, signature: Buffer, key: KeyObject): boolean {
    const hint = 'warden-resolved-key';
    const bundle = toDSSEBundle({ artifact: payload, artifactType: payloadType, signature, keyHint: hint });
    const trust: TrustMaterial = toTrustMaterial(
      { mediaType: '', tlogs: [], ctlogs: [], certificateAuthorities: [], timestampAuthorities: [] },
      (h: string) => {
        if (h !== hint) throw new WardenError('WARDEN_ATTESTATION_SIGNER_UNTRUSTED', 'unknown key');
        return { publicKey: key, validFor: () => true };
      },
    );
    // No transparency log or timestamp authority: trust comes from Warden's own keys and CA.
    const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0 });
    try {
      verifier.verify(toSignedEntity(bundle));
      return true;
    } catch {
      return false;
    }
  }

  private checkCertificate(der: Buffer, intermediatesDer: Buffer[], now: Date): { key: KeyObject; signer: AttestationSigner } {
    let cert: X509Certificate;
    let intermediates: X509Certificate[];
    try {
      cert = new X509Certificate(der);
      intermediates = intermediatesDer.map((d) => new X509Certificate(d));
    } catch (cause) {
      throw new WardenError('WARDEN_ATTESTATION_INVALID', 'the signer certificate cannot be parsed', { cause });
    }
    const inValidity = (c: X509Certificate) => now >= new Date(c.validFrom) && now <= new Date(c.validTo);
    // Path building: leaf → intermediates carried in the bundle → a trusted CA certificate.
    const path: X509Certificate[] = [];
    let current = cert;
    let anchored = false;
    for (let depth = 0; depth < 5 && !anchored; depth++) {
      if (!inValidity(current)) throw new WardenError('WARDEN_ATTESTATION_SIGNER_UNTRUSTED', 'the signer certificate or an issuing CA is outside its validity period');
      const anchor = this.cas.find((ca) => current.checkIssued(ca) && current.verify(ca.publicKey));
      if (anchor) {
        if (!inValidity(anchor)) throw new WardenError('WARDEN_ATTESTATION_SIGNER_UNTRUSTED', 'the trusted CA is outside its validity period');
        anchored = true;
        break;
      }
      const next = intermediates.find((c) => c.ca && !path.includes(c) && current.checkIssued(c) && current.verify(c.publicKey));
      if (!next) break;
      path.push(next);
      current = next;
    }
    if (!anchored) throw new WardenError('WARDEN_ATTESTATION_SIGNER_UNTRUSTED', 'the signer certificate is not issued by a trusted CA');
    if (path.some((c) => this.policy.isRevoked?.({ serial: c.serialNumber.toLowerCase().replace(/^0+(?=.)/, '') }))) {
      throw new WardenError('WARDEN_ATTESTATION_SIGNER_REVOKED', 'an issuing certificate of the signer is revoked');
    }
    if (cert.ca) throw new WardenError('WARDEN_ATTESTATION_SIGNER_UNTRUSTED', 'a CA certificate cannot sign artifacts');
    const spiffeId = spiffeIdOf(cert);
    if (!spiffeId) throw new WardenError('WARDEN_ATTESTATION_SIGNER_UNTRUSTED', 'the signer certificate is not an X.509-SVID (exactly one spiffe:// URI SAN)');
    const allowed = this.policy.allowedSpiffeIds ?? [];
    if (allowed.length > 0 && !allowed.some((p) => spiffeId.startsWith(p))) {
      throw new WardenError('WARDEN_ATTESTATION_SIGNER_UNTRUSTED', `${spiffeId} may not sign artifacts`);
    }
    const key = cert.publicKey;
    return { key, signer: { kind: 'certificate', keyId: keyIdOf(key), spiffeId, serial: cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, '') } };
  }
}

const MAX_SUBJECTS = 1_000_000;

function parseStatement<P>(payloadType: string, payload: Buffer): InTotoStatement<P> {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new WardenError('WARDEN_ATTESTATION_INVALID', `payloadType must be ${IN_TOTO_PAYLOAD_TYPE}`);
  let s: unknown;
  try {
    s = JSON.parse(payload.toString('utf8'));
  } catch (cause) {
    throw new WardenError('WARDEN_ATTESTATION_INVALID', 'the DSSE payload is not JSON', { cause });
  }
  const st = s as Partial<InTotoStatement<P>>;
  if (!st || st._type !== IN_TOTO_STATEMENT_V1 || !Array.isArray(st.subject) || st.subject.length === 0 || st.subject.length > MAX_SUBJECTS || typeof st.predicateType !== 'string') {
    throw new WardenError('WARDEN_ATTESTATION_INVALID', 'the payload is not an in-toto Statement v1');
  }
  for (const sub of st.subject) {
    if (!sub || typeof sub.name !== 'string' || typeof sub.digest !== 'object' || sub.digest === null) {
      throw new WardenError('WARDEN_ATTESTATION_INVALID', 'in-toto subjects need a name and a digest set');
    }
  }
  return st as InTotoStatement<P>;
}
