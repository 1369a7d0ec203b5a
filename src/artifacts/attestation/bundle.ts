import { bundleFromJSON, bundleToJSON, toDSSEBundle, BUNDLE_V02_MEDIA_TYPE, type SerializedBundle } from '@sigstore/bundle';
import { WardenError } from '../../errors/index.js';
import { signDsse, IN_TOTO_PAYLOAD_TYPE, type DsseEnvelope } from './dsse.js';
import type { ArtifactSigner } from './signers.js';
import { canonicalJson } from '../../audit/index.js';

/**
 * Attestations travel as Sigstore bundles v0.3 (a DSSE envelope plus verification material:
 * a public-key hint for the Warden key, or the X.509-SVID for a workload key), so sigstore
 * tooling can read them; bare DSSE envelopes are accepted too (keys resolved by keyid).
 */
export type AttestationBundle = SerializedBundle;

export function signStatement(statement: unknown, signer: ArtifactSigner): AttestationBundle {
  const payload = Buffer.from(canonicalJson(statement));
  const env = signDsse(payload, IN_TOTO_PAYLOAD_TYPE, signer);
  const bundle = toDSSEBundle({
    artifact: payload,
    artifactType: IN_TOTO_PAYLOAD_TYPE,
    signature: Buffer.from(env.signatures[0]!.sig, 'base64'),
    keyHint: signer.keyId,
    ...(signer.certificateDer ? { certificate: signer.certificateDer } : {}),
  });
  // toDSSEBundle puts the key hint only in the signature; keep the keyid there for certificate bundles too.
  bundle.content.dsseEnvelope.signatures[0]!.keyid = signer.keyId;
  if (signer.certificateDer && signer.intermediatesDer?.length) {
    // v0.3 bundles hold a single certificate; a leaf with intermediates needs the v0.2 chain form.
    return bundleToJSON({
      ...bundle,
      mediaType: BUNDLE_V02_MEDIA_TYPE,
      verificationMaterial: {
        ...bundle.verificationMaterial,
        content: { $case: 'x509CertificateChain', x509CertificateChain: { certificates: [signer.certificateDer, ...signer.intermediatesDer].map((rawBytes) => ({ rawBytes })) } },
      },
    });
  }
  return bundleToJSON(bundle);
}

export interface ParsedAttestation {
  envelope: DsseEnvelope;
  /** DER of the signer certificate when the bundle carries one. */
  certificateDer?: Buffer;
  /** DER of intermediates that followed the leaf in an x509CertificateChain. */
  intermediatesDer?: Buffer[];
  /** Public-key hint of a bundle without certificate. */
  keyHint?: string;
}

const MAX_ENVELOPE_BYTES = 8 * 1024 * 1024;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkEnvelope(v: unknown): DsseEnvelope {
  if (!isRecord(v) || typeof v.payloadType !== 'string' || typeof v.payload !== 'string' || !Array.isArray(v.signatures) || v.signatures.length === 0 || v.signatures.length > 16) {
    throw new WardenError('WARDEN_ATTESTATION_INVALID', 'not a DSSE envelope (payloadType, payload, 1-16 signatures)');
  }
  if (v.payload.length > MAX_ENVELOPE_BYTES) throw new WardenError('WARDEN_ATTESTATION_INVALID', 'DSSE payload is too large');
  const signatures = v.signatures.map((s) => {
    if (!isRecord(s) || typeof s.sig !== 'string' || (s.keyid !== undefined && typeof s.keyid !== 'string')) {
      throw new WardenError('WARDEN_ATTESTATION_INVALID', 'DSSE signature entries need a base64 sig and an optional keyid');
    }
    return { keyid: (s.keyid as string | undefined) ?? '', sig: s.sig };
  });
  return { payloadType: v.payloadType, payload: v.payload, signatures };
}

/** Accepts a Sigstore bundle (JSON) or a bare DSSE envelope. */
export function parseAttestation(input: unknown): ParsedAttestation {
  if (isRecord(input) && typeof input.mediaType === 'string') {
    let bundle;
    try {
      bundle = bundleFromJSON(input);
    } catch (cause) {
      throw new WardenError('WARDEN_ATTESTATION_INVALID', `not a valid Sigstore bundle: ${(cause as Error).message}`, { cause });
    }
    if (bundle.content.$case !== 'dsseEnvelope') throw new WardenError('WARDEN_ATTESTATION_INVALID', 'the Sigstore bundle does not carry a DSSE envelope');
    const e = bundle.content.dsseEnvelope;
    const envelope = checkEnvelope({
      payloadType: e.payloadType,
      payload: e.payload.toString('base64'),
      signatures: e.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig.toString('base64') })),
    });
    const vm = bundle.verificationMaterial.content;
    if (vm.$case === 'publicKey') return { envelope, keyHint: vm.publicKey.hint };
    if (vm.$case === 'certificate') return { envelope, certificateDer: vm.certificate.rawBytes };
    const [leaf, ...rest] = vm.x509CertificateChain.certificates;
    if (!leaf || rest.length > 8) throw new WardenError('WARDEN_ATTESTATION_INVALID', 'the certificate chain must hold 1-9 certificates');
    return { envelope, certificateDer: leaf.rawBytes, intermediatesDer: rest.map((c) => c.rawBytes) };
  }
  return { envelope: checkEnvelope(input) };
}
