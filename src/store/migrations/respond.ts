import type { Migration } from './Migration.js';

export const respondMigrations: Migration[] = [];
