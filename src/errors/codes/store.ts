export const storeCodes = {
  WARDEN_STORE_UNAVAILABLE: { status: 503, description: 'The database cannot be reached.' },
  WARDEN_STORE_MIGRATION_FAILED: { status: 500, description: 'A database migration failed; nothing of it was applied.' },
  WARDEN_STORE_SCHEMA_TOO_NEW: { status: 500, description: 'The database was migrated by a newer Warden.' },
} as const;
