import type { Migration } from './Migration.js';

export const policyMigrations: Migration[] = [];
