export type { Database, Queryable, QueryResult, SessionLock } from './Database.js';
export { openStore, type OpenStoreOptions } from './open.js';
export { migrate, splitStatements } from './migrate.js';
export { allMigrations, type Migration } from './migrations/index.js';
export {
  ApiKeyRepository,
  newApiKeyId,
  isActiveKey,
  keyPrincipal,
  parseApiKey,
  hashApiKey,
  serverSecretCheck,
  publicRecord,
  API_KEY_PATTERN,
  type ApiKeyRecord,
  type ApiKeyVerifier,
  type CreateApiKeyInput,
} from './ApiKeyRepository.js';
export { AdminTokenRepository, newAdminTokenId, ADMIN_TOKEN_PATTERN, type AdminTokenRole, type AdminTokenInfo } from './AdminTokenRepository.js';
export { SettingsRepository } from './SettingsRepository.js';
export { BlockedPrincipalRepository, type PrincipalBlock, type BlockInput } from './BlockedPrincipalRepository.js';
export { announceChange, parseChangeNotice, CHANGES_CHANNEL, type ChangeKind } from './changeNotices.js';
export { ChangeListener, CHANGE_LISTENER_APPLICATION_NAME, type ChangeListenerOptions } from './ChangeListener.js';
