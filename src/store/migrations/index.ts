import type { Migration } from './Migration.js';
import { coreMigrations } from './core.js';
import { identityMigrations } from './identity.js';
import { policyMigrations } from './policy.js';
import { auditMigrations } from './audit.js';
import { artifactsMigrations } from './artifacts.js';
import { respondMigrations } from './respond.js';
import { detectMigrations } from './detect.js';

export type { Migration };

/** Applied in this order; areas own disjoint tables, so only core must come first. */
export const allMigrations: Migration[] = [
  ...coreMigrations,
  ...identityMigrations,
  ...policyMigrations,
  ...auditMigrations,
  ...artifactsMigrations,
  ...respondMigrations,
  ...detectMigrations,
];
