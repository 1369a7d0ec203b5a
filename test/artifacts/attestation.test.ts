import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  AttestationVerifier,
  preAuthEncoding,
  signStatement,
  signerFromPrivateKey,
  loadOrCreateWardenSigningKey,
  trainingProvenance,
  versionSubject,
  SLSA_PROVENANCE_V1,
  signDsse,
  IN_TOTO_PAYLOAD_TYPE,
  type InTotoStatement,
} from '../../src/artifacts/index.js';
import { requireOrSkip } from '../helpers/ci.js';
import { makeCa, makeSvid } from './fixtures.js';

const statement: InTotoStatement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'weights.bin', digest: { sha256: 'a'.repeat(64) } }],
  predicateType: 'https://example.com/test/v1',
  predicate: { hello: 'world' },
};

function edSigner() {
  const { privateKey } = generateKeyPairSync('ed25519');
  return signerFromPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
}

test('PAE matches the DSSE specification example', () => {
  assert.equal(preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  assert.throws(() => preAuthEncoding('bad type with spaces', Buffer.alloc(0)), { code: 'WARDEN_ATTESTATION_INVALID' });
});

test('Ed25519 and ECDSA P-256 Warden keys sign Sigstore bundles that verify; tampering fails', () => {
  for (const type of ['ed25519', 'ec'] as const) {
    const { privateKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const signer = signerFromPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const bundle = signStatement(statement, signer);
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    const verifier = new AttestationVerifier({ publicKeys: [signer.publicKey] });
    const ok = verifier.verify(bundle);
    assert.deepEqual(ok.statement, statement);
    assert.deepEqual(ok.signer, { kind: 'key', keyId: signer.keyId });

    const tampered = JSON.parse(JSON.stringify(bundle));
    const payload = JSON.parse(Buffer.from(tampered.dsseEnvelope.payload, 'base64').toString());
    payload.subject[0].digest.sha256 = 'b'.repeat(64);
    tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    assert.throws(() => verifier.verify(tampered), { code: 'WARDEN_ATTESTATION_SIGNATURE_INVALID' });

    const retyped = JSON.parse(JSON.stringify(bundle));
    retyped.dsseEnvelope.payloadType = 'application/json';
    assert.throws(() => verifier.verify(retyped), { code: 'WARDEN_ATTESTATION_SIGNATURE_INVALID' });
  }
});

test('a signature by a key that is not trusted, or is revoked, is refused', () => {
  const signer = edSigner();
  const bundle = signStatement(statement, signer);
  assert.throws(() => new AttestationVerifier({ publicKeys: [edSigner().publicKey] }).verify(bundle), { code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED' });
  const revoked = new AttestationVerifier({ publicKeys: [signer.publicKey], isRevoked: ({ keyId }) => keyId === signer.keyId });
  assert.throws(() => revoked.verify(bundle), { code: 'WARDEN_ATTESTATION_SIGNER_REVOKED' });
  assert.throws(() => new AttestationVerifier({}).verify({ nope: 1 }), { code: 'WARDEN_ATTESTATION_INVALID' });
  assert.throws(() => new AttestationVerifier({}).verify({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }), { code: 'WARDEN_ATTESTATION_INVALID' });
});

test('a workload key with an X.509-SVID: SPIFFE ID is the signer; revoked identity, foreign CA and expiry fail', async () => {
  const ca = await makeCa();
  const svid = await makeSvid(ca, 'spiffe://warden.test/train/job-7', { serial: '1f2e' });
  const signer = signerFromPrivateKey(svid.keyPem, svid.certPem);
  assert.equal(signer.spiffeId, 'spiffe://warden.test/train/job-7');
  const prov = trainingProvenance(versionSubject('sentiment', '3', 'c'.repeat(64)), {
    builderId: signer.spiffeId!,
    runId: 'run-42',
    datasets: [{ name: 'reviews', version: '1', digest: 'd'.repeat(64) }],
    code: { uri: 'git+https://example.com/train.git', digest: { gitCommit: 'e'.repeat(40) } },
    parameters: { epochs: 3, lr: 0.001 },
  });
  const bundle = signStatement(prov, signer);
  assert.ok((bundle.verificationMaterial as { certificate?: unknown }).certificate, 'bundle carries the SVID');

  const verifier = new AttestationVerifier({ caCertificates: [ca.certPem] });
  const v = verifier.verify(bundle);
  assert.equal(v.statement.predicateType, SLSA_PROVENANCE_V1);
  assert.equal(v.signer.spiffeId, 'spiffe://warden.test/train/job-7');
  assert.equal(v.signer.serial, '1f2e');

  const revokedId = new AttestationVerifier({ caCertificates: [ca.certPem], isRevoked: ({ spiffeId }) => spiffeId === 'spiffe://warden.test/train/job-7' });
  assert.throws(() => revokedId.verify(bundle), { code: 'WARDEN_ATTESTATION_SIGNER_REVOKED' });
  const revokedSerial = new AttestationVerifier({ caCertificates: [ca.certPem], isRevoked: ({ serial }) => serial === '1f2e' });
  assert.throws(() => revokedSerial.verify(bundle), { code: 'WARDEN_ATTESTATION_SIGNER_REVOKED' });

  const other = await makeCa('Other CA');
  assert.throws(() => new AttestationVerifier({ caCertificates: [other.certPem] }).verify(bundle), { code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED' });
  assert.throws(() => new AttestationVerifier({ caCertificates: [ca.certPem], allowedSpiffeIds: ['spiffe://warden.test/ci/'] }).verify(bundle), {
    code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED',
  });
  const later = new AttestationVerifier({ caCertificates: [ca.certPem], now: () => new Date(Date.now() + 2 * 3_600_000) });
  assert.throws(() => later.verify(bundle), { code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED' });
  // Trusting the raw key alone is not enough for a certificate bundle: the chain decides.
  assert.throws(() => new AttestationVerifier({ publicKeys: [createPublicKey(svid.keyPem)] }).verify(bundle), { code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED' });
});

test('the Warden signing key is created once with mode 0600', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-signkey-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = loadOrCreateWardenSigningKey(dir);
  assert.equal(statSync(join(dir, 'keys', 'artifact-signing.key')).mode & 0o777, 0o600);
  const b = loadOrCreateWardenSigningKey(dir);
  assert.equal(a.keyId, b.keyId);
  writeFileSync(join(dir, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  assert.throws(() => signerFromPrivateKey(readFileSync(join(dir, 'rsa.pem'))), { code: 'WARDEN_ARTIFACT_SIGNING_KEY_INVALID' });
});

const PY_SIGN = `
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
kind = sys.argv[1]
key = ed25519.Ed25519PrivateKey.generate() if kind == 'ed25519' else ec.generate_private_key(ec.SECP256R1())
stmt = {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "model.bin", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1", "predicate": {"buildDefinition": {"buildType": "py"}}}
payload = json.dumps(stmt).encode()
ptype = "application/vnd.in-toto+json"
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)
sig = key.sign(pae) if kind == 'ed25519' else key.sign(pae, ec.ECDSA(hashes.SHA256()))
pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
import hashlib
env = {"payloadType": ptype, "payload": base64.b64encode(payload).decode(), "signatures": [{"keyid": hashlib.sha256(der).hexdigest(), "sig": base64.b64encode(sig).decode()}]}
print(json.dumps({"envelope": env, "publicKey": pub}))
`;

const PY_VERIFY = `
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
data = json.load(sys.stdin)
env = data["envelope"]
key = serialization.load_pem_public_key(data["publicKey"].encode())
payload = base64.b64decode(env["payload"])
ptype = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
sig = base64.b64decode(env["signatures"][0]["sig"])
if isinstance(key, ed25519.Ed25519PublicKey): key.verify(sig, pae)
else: key.verify(sig, pae, ec.ECDSA(hashes.SHA256()))
print(json.loads(payload)["predicateType"])
`;

function pythonCryptography(): boolean {
  return spawnSync('python3', ['-c', 'import cryptography'], { stdio: 'ignore' }).status === 0;
}

test('interop: DSSE envelopes signed by Python (python3-cryptography) verify in Warden', (t) => {
  if (!requireOrSkip(t, pythonCryptography(), 'python3 with the cryptography package (Debian python3-cryptography)')) return;
  for (const kind of ['ed25519', 'ecdsa']) {
    const r = spawnSync('python3', ['-c', PY_SIGN, kind], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { envelope, publicKey } = JSON.parse(r.stdout) as { envelope: unknown; publicKey: string };
    const v = new AttestationVerifier({ publicKeys: [publicKey] }).verify(envelope);
    assert.equal(v.statement.predicateType, 'https://slsa.dev/provenance/v1');
    assert.equal(v.statement.subject[0]!.name, 'model.bin');
    // keyid is an optional, unauthenticated hint: without it the trusted keys are tried.
    const anonymous = JSON.parse(JSON.stringify(envelope));
    delete anonymous.signatures[0].keyid;
    assert.equal(new AttestationVerifier({ publicKeys: [edSigner().publicKey, publicKey] }).verify(anonymous).statement.subject[0]!.name, 'model.bin');
    assert.throws(() => new AttestationVerifier({ publicKeys: [edSigner().publicKey] }).verify(anonymous), { code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED' });
    const bad = JSON.parse(JSON.stringify(envelope));
    bad.signatures[0].sig = Buffer.from(Buffer.from(bad.signatures[0].sig, 'base64').map((b: number, i: number) => (i === 10 ? b ^ 1 : b))).toString('base64');
    assert.throws(() => new AttestationVerifier({ publicKeys: [publicKey] }).verify(bad), { code: 'WARDEN_ATTESTATION_SIGNATURE_INVALID' });
  }
});

test('interop: envelopes signed by Warden verify in an independent Python PAE implementation', (t) => {
  if (!requireOrSkip(t, pythonCryptography(), 'python3 with the cryptography package (Debian python3-cryptography)')) return;
  for (const type of ['ed25519', 'ec'] as const) {
    const { privateKey, publicKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const signer = signerFromPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const envelope = signDsse(Buffer.from(JSON.stringify(statement)), IN_TOTO_PAYLOAD_TYPE, signer);
    const r = spawnSync('python3', ['-c', PY_VERIFY], { encoding: 'utf8', input: JSON.stringify({ envelope, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) }) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), statement.predicateType);
  }
});
