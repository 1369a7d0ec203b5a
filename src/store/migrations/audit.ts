import type { Migration } from './Migration.js';

export const auditMigrations: Migration[] = [];
