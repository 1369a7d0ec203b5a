import type { Migration } from './Migration.js';

export const detectMigrations: Migration[] = [];
