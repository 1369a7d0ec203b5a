import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedConfig } from '../../config/index.js';
import type { Database } from '../../store/index.js';
import type { Authorizer } from '../../policy/index.js';
import { FileKeyProvider, type KeyProvider } from '../../crypto/index.js';
import { WardenError } from '../../errors/index.js';
import { AttestationVerifier, loadOrCreateWardenSigningKey, type ArtifactSigner, type RevocationCheck } from '../attestation/index.js';
import { ArtifactRegistry, ApproverListAuthorizer, type FrozenDatasetCheck } from '../registry/index.js';
import { ArtifactVault } from '../vault/index.js';
import { buildAdmissionTable, type AdmissionTable } from '../admission/index.js';

export interface ArtifactServiceDeps {
  config: LoadedConfig;
  db: Database;
  /** Cedar authorizer for deployModel; without one, `artifacts.promotion.approvers` decides. */
  authorizer?: Authorizer;
  /** SVID revocation (identity's RevocationList); configured revoked key ids are always checked. */
  isRevoked?: RevocationCheck;
  /** Extra trusted CA PEM (the identity trust bundle), read on every verification so CA rotation is seen. */
  caBundlePem?: () => string | undefined;
  /** Frozen datasets (incident response): no model is registered from or promoted while derived from one. */
  frozenDatasets?: FrozenDatasetCheck;
}

export interface ArtifactServices {
  registry: ArtifactRegistry;
  signer: ArtifactSigner;
  vault: ArtifactVault;
  keyProvider: KeyProvider;
  verifier(): AttestationVerifier;
  admissionTable(): Promise<AdmissionTable>;
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WardenError('WARDEN_CONFIG_INVALID', `cannot read ${what} ${path}`, { cause });
  }
}

/** Wires the artifact area from configuration: the one place the server and the CLI build it. */
export function createArtifactServices(deps: ArtifactServiceDeps): ArtifactServices {
  const a = deps.config.artifacts;
  const signer = loadOrCreateWardenSigningKey(deps.config.dataDir, a.signing.algorithm);
  const extraKeys = a.trust.publicKeyFiles.map((f) => readPem(f, 'trusted public key'));
  const revokedKeys = new Set(a.trust.revokedKeyIds);
  const isRevoked: RevocationCheck = (s) => (s.keyId !== undefined && revokedKeys.has(s.keyId)) || (deps.isRevoked?.(s) ?? false);
  const verifier = (): AttestationVerifier => {
    const cas = a.trust.caFiles.map((f) => readPem(f, 'trusted CA'));
    const bundle = deps.caBundlePem?.() ?? (existsSync(join(deps.config.dataDir, 'bundle.pem')) ? readFileSync(join(deps.config.dataDir, 'bundle.pem'), 'utf8') : undefined);
    if (bundle) cas.push(bundle);
    return new AttestationVerifier({ publicKeys: [signer.publicKey, ...extraKeys], caCertificates: cas, allowedSpiffeIds: a.trust.allowedSpiffeIds, isRevoked });
  };
  // Rebuilt per verification so CA rotation, new trusted keys and revocations apply at once.
  const registry = new ArtifactRegistry(deps.db, {
    verifier: { verify: <P>(input: unknown) => verifier().verify<P>(input) },
    authorizer: deps.authorizer ?? new ApproverListAuthorizer(a.promotion.approvers),
    signer,
    promotion: a.promotion,
    scanners: { keyIds: a.trust.scannerKeyIds, spiffeIds: a.trust.scannerSpiffeIds },
    controlPlaneKeyIds: a.trust.controlPlaneKeyIds,
    ...(deps.frozenDatasets ? { frozenDatasets: deps.frozenDatasets } : {}),
  });
  const keyProvider = new FileKeyProvider(join(deps.config.dataDir, 'keys'));
  const vault = new ArtifactVault(ArtifactVault.blobDir(deps.config.dataDir), keyProvider, { encryptionRequired: a.encryption.required, chunkBytes: a.encryption.chunkBytes });
  return {
    registry,
    signer,
    vault,
    keyProvider,
    verifier,
    admissionTable: () => buildAdmissionTable(deps.db, a.admission),
  };
}
