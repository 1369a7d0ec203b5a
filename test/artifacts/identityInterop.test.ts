import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateAuthority, createWorkloadKey } from '../../src/identity/index.js';
import { AttestationVerifier, signStatement, signerFromPrivateKey, type InTotoStatement } from '../../src/artifacts/index.js';

const statement: InTotoStatement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'model@1', digest: { sha256: '1'.repeat(64) } }],
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: {},
};

test('an X.509-SVID from Warden identity CA (leaf → intermediate → root bundle) signs attestations; revocation in its RevocationList refuses them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-art-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.test' });
  t.after(() => ca.close());
  const wk = createWorkloadKey();
  const svid = await ca.issueX509SvidFromCsr(wk.csrPem, { spiffeId: 'spiffe://warden.test/train/job-1' });
  const signer = signerFromPrivateKey(wk.keyPem, svid.chainPem);
  assert.equal(signer.spiffeId, 'spiffe://warden.test/train/job-1');
  assert.equal(signer.intermediatesDer?.length, 1);
  const bundle = signStatement(statement, signer);
  assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle+json;version=0.2');

  const isRevoked = ({ spiffeId, serial }: { spiffeId?: string; serial?: string }) => ca.revocations.isRevoked(spiffeId, serial);
  const verifier = new AttestationVerifier({ caCertificates: [ca.bundlePem()], isRevoked });
  const v = verifier.verify(bundle);
  assert.equal(v.signer.spiffeId, 'spiffe://warden.test/train/job-1');
  assert.equal(v.signer.serial, svid.serial);

  // Without the intermediate the leaf does not chain to the root bundle.
  const leafOnly = signStatement(statement, signerFromPrivateKey(wk.keyPem, svid.certPem));
  assert.throws(() => verifier.verify(leafOnly), { code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED' });

  await ca.revoke({ spiffeId: 'spiffe://warden.test/train/job-1', reason: 'compromised training job' });
  assert.throws(() => verifier.verify(bundle), { code: 'WARDEN_ATTESTATION_SIGNER_REVOKED' });
});
