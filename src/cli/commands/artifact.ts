import { readFileSync, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { WardenError, isWardenError } from '../../errors/index.js';
import {
  createManifest,
  verifyManifest,
  parseManifest,
  signStatement,
  signerFromPrivateKey,
  loadOrCreateWardenSigningKey,
  scanStatement,
  trainingProvenance,
  versionSubject,
  createLocalVerifier,
  parseRef,
  ArtifactVault,
  createScannedManifest,
  MODEL_SIGNING_PREDICATE_V1,
  type ArtifactSigner,
  type Manifest,
  type ManifestVerification,
  type VersionRecord,
  type AttestationRecord,
  type ScanReportLike,
} from '../../artifacts/index.js';
import { FileKeyProvider, writeFileAtomic } from '../../crypto/index.js';
import { scanPaths } from '../../scan/index.js';
import { join } from 'node:path';
import type { LoadedConfig } from '../../config/index.js';
import { withAdminClient, withAdminOptions } from '../adminClient.js';
import { configFor, setExitCode } from '../context.js';
import { formatTable, parseFormat, printJson, printText } from '../output.js';



function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WardenError('WARDEN_IO', `cannot read ${what} ${path}`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new WardenError('WARDEN_INPUT_INVALID', `${what} ${path} is not JSON`, { cause });
  }
}

function kindOf(value: string): 'model' | 'dataset' {
  if (value !== 'model' && value !== 'dataset') throw new WardenError('WARDEN_USAGE', '--kind must be model or dataset');
  return value;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new WardenError('WARDEN_USAGE', `${flag} must be a positive integer`);
  return n;
}

/** --key/--cert (workload key + X.509-SVID chain) or the Warden signing key of the data dir. */
function signerFor(config: LoadedConfig, opts: { key?: string; cert?: string }): ArtifactSigner {
  if (opts.cert && !opts.key) throw new WardenError('WARDEN_USAGE', '--cert needs --key');
  if (opts.key) {
    const read = (f: string) => {
      try {
        return readFileSync(f);
      } catch (cause) {
        throw new WardenError('WARDEN_IO', `cannot read ${f}`, { cause });
      }
    };
    return signerFromPrivateKey(read(opts.key), opts.cert ? read(opts.cert) : undefined);
  }
  return loadOrCreateWardenSigningKey(config.dataDir, config.artifacts.signing.algorithm);
}

function manifestOptions(config: LoadedConfig, kind: 'model' | 'dataset', shardSize?: string) {
  const a = config.artifacts;
  return {
    kind,
    shardSizeBytes: shardSize ? positiveInt(shardSize, '--shard-size') : a.shardSizeBytes,
    workers: a.hashWorkers,
    dataset: { recordExtensions: a.dataset.recordExtensions, chunkBytes: a.dataset.chunkBytes, maxStoredNodes: a.dataset.maxStoredNodes },
  };
}

function verificationText(v: ManifestVerification & { signature?: unknown }): string {
  const lines = [`${v.ok ? 'OK' : 'FAIL'} root digest sha256:${v.rootDigest}`];
  for (const f of v.files) {
    if (f.status === 'ok') continue;
    lines.push(`${f.status.toUpperCase().padEnd(8)} ${f.path}`);
    for (const l of f.locations ?? []) lines.push(`         ${l.unit === 'record' ? 'lines' : 'bytes'} ${l.first}${l.last !== l.first ? `-${l.last}` : ''}`);
    if (f.leafCount) lines.push(`         ${f.leafCount.expected} → ${f.leafCount.actual} records/chunks`);
  }
  return lines.join('\n');
}

function versionLine(v: VersionRecord): (string | null)[] {
  return [v.id, v.kind, v.stage, v.revoked ? `revoked: ${v.revokedReason ?? ''}` : '', v.digest.slice(0, 16), v.createdAt];
}

export function registerArtifactCommands(program: Command): void {
  const artifact = withAdminOptions(program.command('artifact').description('artifact integrity and lineage: manifests, signatures, registry, promotion, admission'));

  artifact
    .command('hash <path>')
    .description('hash a model or dataset into an OpenSSF model-signing style manifest (offline)')
    .option('--kind <kind>', 'model|dataset', 'model')
    .option('--shard-size <bytes>', 'hash files larger than this as parallel shards')
    .option('--out <file>', 'write the manifest here instead of stdout')
    .action(async (path: string, opts: { kind: string; shardSize?: string; out?: string }, cmd: Command) => {
      const config = configFor(cmd);
      const m = await createManifest(path, manifestOptions(config, kindOf(opts.kind), opts.shardSize));
      if (opts.out) {
        writeFileAtomic(opts.out, JSON.stringify(m, null, 2) + '\n', 0o644);
        process.stderr.write(`sha256:${m.predicate.warden.rootDigest}\n`);
      } else printJson(m);
    });

  artifact
    .command('sign <statement>')
    .description('sign an in-toto statement (manifest, provenance) into a Sigstore bundle with the Warden key or --key/--cert (offline)')
    .option('--key <file>', 'workload private key (PEM)')
    .option('--cert <file>', 'its X.509-SVID (PEM, leaf then intermediates)')
    .option('--out <file>', 'write the bundle here instead of stdout')
    .action(async (statementPath: string, opts: { key?: string; cert?: string; out?: string }, cmd: Command) => {
      const config = configFor(cmd);
      const statement = readJsonFile(statementPath, 'statement');
      const st = statement as { _type?: unknown; predicateType?: unknown };
      if (st._type !== 'https://in-toto.io/Statement/v1') throw new WardenError('WARDEN_INPUT_INVALID', `${statementPath} is not an in-toto Statement v1`);
      if (st.predicateType === MODEL_SIGNING_PREDICATE_V1) parseManifest(statement);
      const bundle = signStatement(statement, signerFor(config, opts));
      if (opts.out) writeFileAtomic(opts.out, JSON.stringify(bundle, null, 2) + '\n', 0o644);
      else printJson(bundle);
    });

  artifact
    .command('public-key')
    .description('print the Warden artifact-signing public key (PEM) and its key id, to trust it elsewhere (artifacts.trust.publicKeyFiles)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const config = configFor(cmd);
      const signer = loadOrCreateWardenSigningKey(config.dataDir, config.artifacts.signing.algorithm);
      const pem = signer.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      if (format === 'json') printJson({ keyId: signer.keyId, publicKeyPem: pem });
      else printText(`# keyid ${signer.keyId}\n${pem}`);
    });

  artifact
    .command('verify <path>')
    .description('re-hash files against a manifest and verify its signature (offline); exit 1 names what changed')
    .option('--manifest <file>', 'manifest JSON (default: the statement inside --bundle)')
    .option('--bundle <file>', 'signed manifest (Sigstore bundle or DSSE envelope)')
    .option('--trust-key <file...>', 'extra trusted public keys (PEM)')
    .option('--ca <file...>', 'extra trusted CA certificates (PEM)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (path: string, opts: { manifest?: string; bundle?: string; trustKey?: string[]; ca?: string[]; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const config = configFor(cmd);
      if (!opts.manifest && !opts.bundle) throw new WardenError('WARDEN_USAGE', 'give --manifest and/or --bundle');
      let manifest: unknown = opts.manifest ? readJsonFile(opts.manifest, 'manifest') : undefined;
      let signature: { ok: boolean; signer?: unknown; code?: string; message?: string } | null = null;
      if (opts.bundle) {
        const bundle = readJsonFile(opts.bundle, 'bundle');
        try {
          const v = createLocalVerifier(config, { publicKeyFiles: opts.trustKey ?? [], caFiles: opts.ca ?? [] }).verify(bundle);
          const signed = parseManifest(v.statement);
          if (manifest !== undefined && parseManifest(manifest).predicate.warden.rootDigest !== signed.predicate.warden.rootDigest) {
            throw new WardenError('WARDEN_ATTESTATION_SUBJECT_MISMATCH', 'the bundle signs a different manifest');
          }
          manifest = signed;
          signature = { ok: true, signer: v.signer };
        } catch (err) {
          if (!isWardenError(err) || !/^WARDEN_(ATTESTATION|ARTIFACT_MANIFEST)_/.test(err.code)) throw err;
          signature = { ok: false, code: err.code, message: err.message };
        }
      }
      const result = manifest !== undefined ? await verifyManifest(path, manifest, { workers: config.artifacts.hashWorkers }) : null;
      const ok = (result?.ok ?? false) && (signature === null || signature.ok);
      const out = { ok, rootDigest: result?.rootDigest ?? null, signature, files: result?.files ?? [] };
      if (!ok) setExitCode(cmd, 1);
      if (format === 'json') printJson(out);
      else {
        if (signature) printText(signature.ok ? `signature OK (${JSON.stringify(signature.signer)})` : `signature FAIL ${signature.code}: ${signature.message}`);
        if (result) printText(verificationText(result));
      }
    });

  artifact
    .command('add <path>')
    .description('hash, sign (and scan) a model or dataset locally, then register the version with the control plane')
    .requiredOption('--name <name>', 'artifact name')
    .requiredOption('--version <version>', 'version label')
    .option('--kind <kind>', 'model|dataset', 'model')
    .option('--no-sign', 'register without a signed manifest')
    .option('--scan', 'scan the files (warden scan) and attach the signed report')
    .option('--key <file>', 'sign with this workload key instead of the Warden key')
    .option('--cert <file>', 'X.509-SVID of --key')
    .option('--run <runId>', 'training run that produced it (lineage)')
    .option('--input <ref...>', 'datasets it was derived from, NAME@VERSION (lineage)')
    .option('--shard-size <bytes>', 'shard size for large files')
    .option('--format <format>', 'text|json', 'text')
    .action(async (path: string, opts: { name: string; version: string; kind: string; sign: boolean; scan?: boolean; key?: string; cert?: string; run?: string; input?: string[]; shardSize?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const config = configFor(cmd);
      parseRef(`${opts.name}@${opts.version}`);
      const options = manifestOptions(config, kindOf(opts.kind), opts.shardSize);
      const scanner = async (paths: string[], o: { shardSizeBytes?: number }) => (await scanPaths(paths, o)) as unknown as ScanReportLike;
      // With --scan the manifest and the scan are checked to describe the same bytes.
      const { manifest, report } = opts.scan
        ? await createScannedManifest(path, options, scanner, `${opts.name}@${opts.version}`)
        : { manifest: await createManifest(path, options), report: undefined };
      const attestations: unknown[] = [];
      const signer = opts.sign || opts.scan ? signerFor(config, opts) : undefined;
      if (opts.sign && signer) attestations.push(signStatement(manifest, signer));
      if (report && signer) attestations.push(signStatement(scanStatement(versionSubject(opts.name, opts.version, manifest.predicate.warden.rootDigest), report), signer));
      const r = await withAdminClient(cmd, (c) =>
        c.call<{ version: VersionRecord; created: boolean }>('POST', '/api/v1/artifacts', {
          kind: opts.kind,
          name: opts.name,
          version: opts.version,
          manifest,
          attestations,
          ...(opts.run || opts.input ? { lineage: { ...(opts.run ? { runId: opts.run } : {}), ...(opts.input ? { inputs: opts.input } : {}) } } : {}),
        }),
      );
      if (format === 'json') printJson(r);
      else printText(`${r.created ? 'registered' : 'already registered'} ${r.version.id} sha256:${r.version.digest} (${attestations.length} attestation(s))`);
    });

  artifact
    .command('attest <ref> <bundle>')
    .description('attach a signed attestation (Sigstore bundle or DSSE envelope) to NAME@VERSION')
    .option('--format <format>', 'text|json', 'text')
    .action(async (ref: string, bundlePath: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const { name, version } = parseRef(ref);
      if (!version) throw new WardenError('WARDEN_USAGE', 'give NAME@VERSION');
      const bundle = readJsonFile(bundlePath, 'bundle');
      const r = await withAdminClient(cmd, (c) => c.call<{ attestation: AttestationRecord }>('POST', `/api/v1/artifacts/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/attestations`, { bundle }));
      if (format === 'json') printJson(r);
      else printText(`attached ${r.attestation.predicateType} signed by ${r.attestation.signer.spiffeId ?? r.attestation.signer.keyId}`);
    });

  artifact
    .command('provenance <ref>')
    .description('sign SLSA provenance for a trained model version (builder = the training job SPIFFE ID) and attach it')
    .requiredOption('--run <runId>', 'training run id')
    .requiredOption('--dataset <ref...>', 'training datasets NAME@VERSION (registered)')
    .requiredOption('--code-digest <algo:hex>', 'training code digest, e.g. gitCommit:abc123 or sha256:…')
    .option('--code-uri <uri>', 'training code location')
    .option('--param <k=v...>', 'training parameters')
    .option('--key <file>', 'training job private key (PEM)')
    .option('--cert <file>', 'training job X.509-SVID (PEM)')
    .option('--builder <spiffeId>', 'builder id when signing with the Warden key')
    .option('--format <format>', 'text|json', 'text')
    .action(async (ref: string, opts: { run: string; dataset: string[]; codeDigest: string; codeUri?: string; param?: string[]; key?: string; cert?: string; builder?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const config = configFor(cmd);
      const { name, version } = parseRef(ref);
      if (!version) throw new WardenError('WARDEN_USAGE', 'give NAME@VERSION');
      const signer = signerFor(config, opts);
      const builderId = signer.spiffeId ?? opts.builder;
      if (!builderId) throw new WardenError('WARDEN_USAGE', 'sign with the job key (--key/--cert) or name the builder with --builder');
      const [algo, hex] = opts.codeDigest.split(':');
      if (!algo || !hex) throw new WardenError('WARDEN_USAGE', '--code-digest looks like gitCommit:<hex> or sha256:<hex>');
      const parameters = Object.fromEntries((opts.param ?? []).map((p) => {
        const i = p.indexOf('=');
        if (i <= 0) throw new WardenError('WARDEN_USAGE', `--param ${p} must be key=value`);
        return [p.slice(0, i), p.slice(i + 1)];
      }));
      const r = await withAdminClient(cmd, async (c) => {
        const target = await c.call<{ version: VersionRecord }>('GET', `/api/v1/artifacts/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`);
        const datasets = [];
        for (const d of opts.dataset) {
          const dr = parseRef(d);
          if (!dr.version) throw new WardenError('WARDEN_USAGE', `--dataset ${d} must be NAME@VERSION`);
          const dv = await c.call<{ version: VersionRecord }>('GET', `/api/v1/artifacts/${encodeURIComponent(dr.name)}/versions/${encodeURIComponent(dr.version)}`);
          datasets.push({ name: dr.name, version: dr.version, digest: dv.version.digest });
        }
        const statement = trainingProvenance(versionSubject(name, version, target.version.digest), {
          builderId,
          runId: opts.run,
          datasets,
          code: { ...(opts.codeUri ? { uri: opts.codeUri } : {}), digest: { [algo]: hex } },
          parameters,
        });
        return c.call<{ attestation: AttestationRecord }>('POST', `/api/v1/artifacts/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/attestations`, { bundle: signStatement(statement, signer) });
      });
      if (format === 'json') printJson(r);
      else printText(`attached SLSA provenance for ${ref} (run ${opts.run}, builder ${builderId})`);
    });

  const versionAction = (verb: 'approve' | 'promote' | 'revoke', describe: (opts: Record<string, string | undefined>) => unknown) =>
    async (ref: string, opts: Record<string, string | undefined> & { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const { name, version } = parseRef(ref);
      if (!version) throw new WardenError('WARDEN_USAGE', 'give NAME@VERSION');
      const r = await withAdminClient(cmd, (c) => c.call<Record<string, unknown>>('POST', `/api/v1/artifacts/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/${verb}`, describe(opts)));
      if (format === 'json') printJson(r);
      else printText(`${verb} ${ref}: ok`);
    };

  artifact
    .command('approve <ref>')
    .description('approve NAME@VERSION for serving as a principal allowed to deployModel')
    .requiredOption('--principal <entity>', 'approver, e.g. User::"alice"')
    .option('--comment <text>', 'why')
    .option('--format <format>', 'text|json', 'text')
    .action(versionAction('approve', (o) => ({ principal: o.principal, ...(o.comment ? { comment: o.comment } : {}) })));

  artifact
    .command('promote <ref>')
    .description('move NAME@VERSION to approved|serving|retired (needs signed manifest, passing scan, approval)')
    .requiredOption('--to <stage>', 'approved|serving|retired')
    .option('--format <format>', 'text|json', 'text')
    .action(versionAction('promote', (o) => ({ stage: o.to })));

  artifact
    .command('revoke <ref>')
    .description('revoke NAME@VERSION (tampered or poisoned); gateways refuse it at once')
    .requiredOption('--reason <text>', 'why')
    .option('--format <format>', 'text|json', 'text')
    .action(versionAction('revoke', (o) => ({ reason: o.reason })));

  artifact
    .command('rollback <model>')
    .description('serve the last approved version again; pushed to gateways')
    .option('--format <format>', 'text|json', 'text')
    .action(async (model: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (c) => c.call<{ from: string | null; to: string }>('POST', `/api/v1/artifacts/${encodeURIComponent(parseRef(model).name)}/rollback`, {}));
      if (format === 'json') printJson(r);
      else printText(`rolled back ${model}: ${r.from ?? '(nothing serving)'} → ${r.to}`);
    });

  artifact
    .command('show <ref>')
    .description('show an artifact (NAME) or one version (NAME@VERSION) with its attestations')
    .option('--format <format>', 'text|json', 'text')
    .action(async (ref: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const { name, version } = parseRef(ref);
      type Shown = { name: string; kind: string; versions: (VersionRecord & { attestations: AttestationRecord[] })[] };
      type One = { version: VersionRecord; attestations: AttestationRecord[] };
      const r = await withAdminClient<Shown | One>(cmd, (c) =>
        version
          ? c.call<One>('GET', `/api/v1/artifacts/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`)
          : c.call<Shown>('GET', `/api/v1/artifacts/${encodeURIComponent(name)}`),
      );
      if (format === 'json') return printJson(r);
      const versions = 'versions' in r ? r.versions : [{ ...r.version, attestations: r.attestations }];
      printText(formatTable(['VERSION', 'KIND', 'STAGE', 'REVOKED', 'DIGEST', 'CREATED'], versions.map(versionLine)));
      for (const v of versions) for (const a of v.attestations) printText(`  ${v.id}  ${a.predicateType}  by ${a.signer.spiffeId ?? `key ${a.signer.keyId.slice(0, 16)}`}`);
    });

  artifact
    .command('list')
    .description('list registered models and datasets')
    .option('--kind <kind>', 'model|dataset')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { kind?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const q = opts.kind ? `?kind=${kindOf(opts.kind)}` : '';
      const r = await withAdminClient(cmd, (c) => c.call<{ artifacts: { name: string; kind: string; versions: number; serving: string | null; latest: string | null }[] }>('GET', `/api/v1/artifacts${q}`));
      if (format === 'json') printJson(r);
      else printText(formatTable(['NAME', 'KIND', 'VERSIONS', 'SERVING', 'LATEST'], r.artifacts.map((a) => [a.name, a.kind, a.versions, a.serving, a.latest])));
    });

  artifact
    .command('lineage <id>')
    .description('walk lineage from NAME@VERSION, NAME or a node key (dataset:…, run:…, model:…, deployment:…)')
    .option('--upstream', 'what it was derived from')
    .option('--downstream', 'what was derived from it (default)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (id: string, opts: { upstream?: boolean; downstream?: boolean; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      if (opts.upstream && opts.downstream) throw new WardenError('WARDEN_USAGE', 'give --upstream or --downstream, not both');
      const direction = opts.upstream ? 'upstream' : 'downstream';
      const r = await withAdminClient(cmd, (c) => c.call<{ nodes: { key: string; kind: string; depth: number }[]; edges: { src: string; dst: string; relation: string }[] }>('GET', `/api/v1/lineage/${encodeURIComponent(id)}?direction=${direction}`));
      if (format === 'json') printJson(r);
      else printText(r.nodes.map((n) => `${'  '.repeat(n.depth)}${n.key}`).join('\n'));
    });

  artifact
    .command('blast-radius <dataset>')
    .description('every run, derived dataset, model version and deployment derived from a dataset (NAME or NAME@VERSION)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (dataset: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      type Br = { dataset: string; runs: { key: string }[]; datasets: { key: string }[]; models: { key: string; stage: string | null; revoked: boolean }[]; deployments: { key: string; servingVersion: string | null; servingAffected: boolean }[] };
      const r = await withAdminClient(cmd, (c) => c.call<Br>('GET', `/api/v1/artifacts/${encodeURIComponent(dataset)}/blast-radius`));
      if (format === 'json') return printJson(r);
      printText(`blast radius of ${r.dataset}: ${r.models.length} model version(s), ${r.deployments.length} deployment(s)`);
      printText(formatTable(['MODEL VERSION', 'STAGE', 'REVOKED'], r.models.map((m) => [m.key.replace(/^model:/, ''), m.stage, m.revoked ? 'yes' : 'no'])));
      if (r.deployments.length) printText(formatTable(['DEPLOYMENT', 'SERVING', 'AFFECTED'], r.deployments.map((d) => [d.key.replace(/^deployment:/, ''), d.servingVersion, d.servingAffected ? 'YES' : 'no'])));
    });

  artifact
    .command('store <path>')
    .description('store a file in the data dir vault, envelope-encrypted (refused unencrypted when policy requires encryption)')
    .option('--no-encrypt', 'store in plaintext (refused when artifacts.encryption.required)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (path: string, opts: { encrypt: boolean; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await vaultOf(configFor(cmd)).store(path, { encrypt: opts.encrypt });
      if (format === 'json') printJson(r);
      else printText(`stored ${r.id} (${r.size} bytes, ${r.encrypted ? `encrypted, KEK ${r.kekId}` : 'plaintext'})`);
    });

  artifact
    .command('retrieve <id>')
    .description('decrypt a stored blob to a file (written only if it authenticates)')
    .requiredOption('--out <file>', 'destination')
    .action(async (id: string, opts: { out: string }, cmd: Command) => {
      if (existsSync(opts.out)) throw new WardenError('WARDEN_CONFLICT', `${opts.out} exists`);
      await vaultOf(configFor(cmd)).retrieve(id, opts.out);
    });

  artifact
    .command('rotate-keys')
    .description('create a new key-encryption key and re-wrap every stored data key (data is not re-encrypted)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await vaultOf(configFor(cmd)).rotateKeys();
      if (format === 'json') printJson(r);
      else printText(`new KEK ${r.kekId}; re-wrapped ${r.rewrapped} data key(s)`);
    });
}

function vaultOf(config: LoadedConfig): ArtifactVault {
  return new ArtifactVault(ArtifactVault.blobDir(config.dataDir), new FileKeyProvider(join(config.dataDir, 'keys')), {
    encryptionRequired: config.artifacts.encryption.required,
    chunkBytes: config.artifacts.encryption.chunkBytes,
  });
}

export type { Manifest };
