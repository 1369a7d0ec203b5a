import type { Migration } from './Migration.js';

export const artifactsMigrations: Migration[] = [];
