import { lstat, readdir } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { WardenError } from '../../errors/index.js';

export interface ArtifactFile {
  /** POSIX path relative to the artifact root (the basename for a single-file artifact). */
  path: string;
  absolutePath: string;
  size: number;
}

const DEFAULT_IGNORED = new Set(['.git', '.DS_Store']);

/**
 * Lists the regular files of a model or dataset in a stable order. Symlinks are refused
 * (model-signing `allow_symlinks: false`): a link could point the signature at other bytes.
 */
export async function listArtifactFiles(root: string, ignorePaths: readonly string[] = []): Promise<ArtifactFile[]> {
  let st;
  try {
    st = await lstat(root);
  } catch (cause) {
    throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `${root} does not exist`, { cause });
  }
  if (st.isSymbolicLink()) throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `${root} is a symbolic link`);
  if (st.isFile()) return [{ path: basename(root), absolutePath: root, size: st.size }];
  if (!st.isDirectory()) throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `${root} is not a regular file or directory`);
  const ignored = new Set(ignorePaths);
  const out: ArtifactFile[] = [];
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const abs = join(dir, entry.name);
      const rel = relative(root, abs).split(sep).join('/');
      if (DEFAULT_IGNORED.has(entry.name) || ignored.has(rel)) continue;
      if (entry.isSymbolicLink()) throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `${rel} is a symbolic link (not allowed in signed artifacts)`);
      if (entry.isDirectory()) await walk(abs);
      else if (entry.isFile()) out.push({ path: rel, absolutePath: abs, size: (await lstat(abs)).size });
      else throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `${rel} is not a regular file`);
    }
  }
  await walk(root);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
