import type { Migration } from './Migration.js';

export const identityMigrations: Migration[] = [];
