import { readFileSync } from 'node:fs';
import { WardenError } from '../../errors/index.js';
import { writeFileAtomic } from '../../crypto/index.js';
import { featureProfileSchema, type FeatureProfile } from './FeatureProfile.js';

/** Validates a parsed profile; the error names the first offending key. */
export function parseProfile(doc: unknown, source = 'profile'): FeatureProfile {
  const r = featureProfileSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new WardenError('WARDEN_DETECT_PROFILE_INVALID', `${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}

export function loadProfile(path: string): FeatureProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WardenError('WARDEN_DETECT_PROFILE_INVALID', `cannot read profile ${path}`, { cause });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new WardenError('WARDEN_DETECT_PROFILE_INVALID', `${path} is not valid JSON`, { cause });
  }
  return parseProfile(doc, path);
}

/** Written atomically (0644: a profile holds statistics of the training data, not secrets). */
export function saveProfile(path: string, profile: FeatureProfile): void {
  writeFileAtomic(path, JSON.stringify(profile, null, 2) + '\n', 0o644);
}
