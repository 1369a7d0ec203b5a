import { AdminTokenRepository, ApiKeyRepository, SettingsRepository, newAdminTokenId, newApiKeyId, type Database } from '../store/index.js';

/** Settings row naming the credentials minted by a start that has not shown them yet. */
const UNSHOWN_KEY = 'firstStart.unshownCredentials';

interface Unshown {
  adminTokenId?: string;
  demoKeyId?: string;
}

export interface FirstStartCredentials {
  adminToken: string | null;
  demoKey: string | null;
  /** Call once the secrets are printed: from then on they are the user's. */
  shown(): Promise<void>;
  /** Deletes the secrets when the start fails in-process before printing them. */
  discard(): Promise<void>;
}

/**
 * The first admin token (and demo key) are shown once, so minting them must survive a start
 * that dies before printing them (kill -9, Ctrl-C, a crash). Their ids are written down before
 * they exist and crossed off only once printed; the next start deletes whatever a start left
 * unshown and mints new ones, so a user is never left with credentials nobody ever saw.
 */
export async function mintFirstStartCredentials(db: Database, serverSecret: Uint8Array, options: { demo: boolean }): Promise<FirstStartCredentials> {
  const settings = new SettingsRepository(db);
  const adminTokens = new AdminTokenRepository(db, serverSecret);
  const keys = new ApiKeyRepository(db, serverSecret);
  await discardUnshown(settings, adminTokens, keys);

  const unshown: Unshown = {};
  let adminToken: string | null = null;
  let demoKey: string | null = null;
  if ((await adminTokens.count()) === 0) {
    unshown.adminTokenId = newAdminTokenId();
    await settings.set(UNSHOWN_KEY, unshown);
    adminToken = (await adminTokens.create('initial', 'admin', unshown.adminTokenId)).token;
  }
  if (options.demo && !(await keys.find('demo'))) {
    unshown.demoKeyId = newApiKeyId();
    await settings.set(UNSHOWN_KEY, unshown);
    demoKey = (await keys.create({ name: 'demo', principal: 'ApiKey::"demo"', id: unshown.demoKeyId })).key;
  }
  const minted = adminToken !== null || demoKey !== null;
  return {
    adminToken,
    demoKey,
    shown: async () => {
      if (minted) await settings.set(UNSHOWN_KEY, {});
    },
    discard: async () => {
      if (minted) await discardUnshown(settings, adminTokens, keys);
    },
  };
}

async function discardUnshown(settings: SettingsRepository, adminTokens: AdminTokenRepository, keys: ApiKeyRepository): Promise<void> {
  const left = await settings.get<Unshown>(UNSHOWN_KEY);
  if (!left?.adminTokenId && !left?.demoKeyId) return;
  if (left.adminTokenId) await adminTokens.discard(left.adminTokenId);
  if (left.demoKeyId) await keys.discard(left.demoKeyId);
  await settings.set(UNSHOWN_KEY, {});
}
