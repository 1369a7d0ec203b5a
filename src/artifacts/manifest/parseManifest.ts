import { z } from 'zod';
import { WardenError } from '../../errors/index.js';
import { IN_TOTO_STATEMENT_V1, MODEL_SIGNING_PREDICATE_V1, type Manifest } from './Manifest.js';
import { rootDigestOf } from './createManifest.js';
import { merkleRootOfNodes } from './merkle.js';
import { manifestFileDigests } from './manifestFiles.js';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
// Resource names are relative POSIX paths: no absolute paths, no '..' segments, no NUL.
const relPath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'), 'must be a relative path inside the artifact');

const manifestSchema = z.object({
  _type: z.literal(IN_TOTO_STATEMENT_V1),
  subject: z.array(z.object({ name: relPath, digest: z.record(z.string().max(64), hex64) })).min(1).max(1_000_000),
  predicateType: z.literal(MODEL_SIGNING_PREDICATE_V1),
  predicate: z.object({
    serialization: z.object({
      method: z.enum(['files', 'shards']),
      hash_type: z.literal('sha256'),
      allow_symlinks: z.literal(false),
      ignore_paths: z.array(z.string().max(4096)).max(1000),
      shard_size: z.number().int().min(1).optional(),
    }),
    resources: z.array(z.object({ name: z.string().min(1).max(4200), algorithm: z.literal('sha256'), digest: hex64 })).min(1).max(10_000_000),
    warden: z.object({
      kind: z.enum(['model', 'dataset']),
      rootDigest: hex64,
      files: z.array(z.object({ path: relPath, size: z.number().int().min(0) })).min(1).max(1_000_000),
      datasets: z
        .array(
          z.object({
            path: relPath,
            unit: z.enum(['record', 'chunk']),
            chunkBytes: z.number().int().min(1).optional(),
            leafCount: z.number().int().min(0),
            root: hex64,
            level: z.number().int().min(0).max(62),
            nodes: z.string().max(64 * 1024 * 1024),
          }),
        )
        .optional(),
    }),
  }),
});

/**
 * Validates an untrusted manifest and checks that its root digest really is the digest of its
 * resources, and that its subjects and file list say exactly what the resources say, so a
 * manifest cannot claim one pinned digest while listing other files or file digests.
 */
export function parseManifest(value: unknown): Manifest {
  const result = manifestSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new WardenError('WARDEN_ARTIFACT_MANIFEST_INVALID', `manifest ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const m = result.data as Manifest;
  if (m.predicate.serialization.method === 'shards' && !m.predicate.serialization.shard_size) {
    throw new WardenError('WARDEN_ARTIFACT_MANIFEST_INVALID', 'manifest uses shards serialization without shard_size');
  }
  if (rootDigestOf(m.predicate.resources) !== m.predicate.warden.rootDigest) {
    throw new WardenError('WARDEN_ARTIFACT_MANIFEST_INVALID', 'manifest rootDigest does not match its resources');
  }
  manifestFileDigests(m);
  const paths = new Set(m.predicate.warden.files.map((f) => f.path));
  // The stored node level is what locates a poisoned row: it must really be the tree of that root.
  for (const d of m.predicate.warden.datasets ?? []) {
    if (!paths.has(d.path)) throw new WardenError('WARDEN_ARTIFACT_MANIFEST_INVALID', `dataset ${d.path} is not a file of the manifest`);
    const raw = Buffer.from(d.nodes, 'base64');
    const expected = d.leafCount === 0 ? 0 : Math.ceil(d.leafCount / 2 ** d.level);
    if (raw.length !== expected * 32) throw new WardenError('WARDEN_ARTIFACT_MANIFEST_INVALID', `dataset ${d.path}: node level does not match its leaf count`);
    const nodes: Buffer[] = [];
    for (let i = 0; i < raw.length; i += 32) nodes.push(raw.subarray(i, i + 32));
    if (merkleRootOfNodes(nodes).toString('hex') !== d.root) throw new WardenError('WARDEN_ARTIFACT_MANIFEST_INVALID', `dataset ${d.path}: nodes do not hash to the Merkle root`);
  }
  return m;
}
