import { AdminTokenRepository, ApiKeyRepository, SettingsRepository, newAdminTokenId, newApiKeyId, type Database } from '../store/index.js';

/** Settings row naming the credentials minted by a start that has not shown them yet. */
const UNSHOWN_KEY = 'firstStart.unshownCredentials';
/** Arbitrary constant ('WFST'): replicas starting on one database take turns at the first-start credentials. */
const FIRST_START_LOCK_ID = 0x57465354;

interface Unshown {
  adminTokenId?: string;
  demoKeyId?: string;
}

export interface FirstStartCredentials {
  adminToken: string | null;
  demoKey: string | null;
  /** True when this start minted nothing because another replica, starting at the same time, minted and printed them. */
  createdByAnotherStart: boolean;
  /** Call once the secrets are printed: from then on they are the user's. */
  shown(): Promise<void>;
  /** Deletes the secrets when the start fails in-process before printing them. */
  discard(): Promise<void>;
  /** Lets a waiting replica go on without showing or discarding (a start stopped before printing). Idempotent. */
  release(): Promise<void>;
}

/**
 * The first admin token (and demo key) are shown once, so minting them must survive a start
 * that dies before printing them (kill -9, Ctrl-C, a crash). Their ids are written down before
 * they exist and crossed off only once printed; the next start deletes whatever a start left
 * unshown and mints new ones, so a user is never left with credentials nobody ever saw.
 *
 * Replicas started together on one database would each take the other's unshown credentials
 * for a dead start's, delete them and print their own. So a start holds the first-start lock
 * from its look at the store until its credentials are shown (or given up): another replica
 * waits, then finds them and mints nothing. A holder that dies releases the lock with its
 * database session, and the next holder discards what it left unshown, as after a restart.
 */
export async function mintFirstStartCredentials(
  db: Database,
  serverSecret: Uint8Array,
  options: { demo: boolean; onWait?: () => void },
): Promise<FirstStartCredentials> {
  const settings = new SettingsRepository(db);
  const adminTokens = new AdminTokenRepository(db, serverSecret);
  const keys = new ApiKeyRepository(db, serverSecret);
  // A token another start minted but has not printed yet does not count as one from before.
  const arrivedUnshown = await settings.get<Unshown>(UNSHOWN_KEY);
  const hadShownAdminToken = (await adminTokens.count()) > (arrivedUnshown?.adminTokenId ? 1 : 0);
  const lock = await db.sessionLock(FIRST_START_LOCK_ID, options.onWait);

  const unshown: Unshown = {};
  let adminToken: string | null = null;
  let demoKey: string | null = null;
  let createdByAnotherStart = false;
  try {
    await discardUnshown(settings, adminTokens, keys);
    if ((await adminTokens.count()) === 0) {
      unshown.adminTokenId = newAdminTokenId();
      await settings.set(UNSHOWN_KEY, unshown);
      adminToken = (await adminTokens.create('initial', 'admin', unshown.adminTokenId)).token;
    } else createdByAnotherStart = lock.waited && !hadShownAdminToken;
    if (options.demo && !(await keys.find('demo'))) {
      unshown.demoKeyId = newApiKeyId();
      await settings.set(UNSHOWN_KEY, unshown);
      demoKey = (await keys.create({ name: 'demo', principal: 'ApiKey::"demo"', id: unshown.demoKeyId })).key;
    }
  } catch (err) {
    // Whatever was minted stays listed as unshown: the next holder of the lock discards it.
    await lock.release();
    throw err;
  }
  const minted = adminToken !== null || demoKey !== null;
  // Nothing to show: other replicas need not wait for this start to finish.
  if (!minted) await lock.release();
  // Once released, the unshown row may be another replica's: only the first end touches it.
  let ended = false;
  const end = async (step: () => Promise<void>): Promise<void> => {
    if (ended) return;
    ended = true;
    try {
      if (minted) await step();
    } finally {
      await lock.release();
    }
  };
  return {
    adminToken,
    demoKey,
    createdByAnotherStart,
    shown: () => end(() => settings.set(UNSHOWN_KEY, {})),
    discard: () => end(() => discardUnshown(settings, adminTokens, keys)),
    release: () => end(async () => undefined),
  };
}

async function discardUnshown(settings: SettingsRepository, adminTokens: AdminTokenRepository, keys: ApiKeyRepository): Promise<void> {
  const left = await settings.get<Unshown>(UNSHOWN_KEY);
  if (!left?.adminTokenId && !left?.demoKeyId) return;
  if (left.adminTokenId) await adminTokens.discard(left.adminTokenId);
  if (left.demoKeyId) await keys.discard(left.demoKeyId);
  await settings.set(UNSHOWN_KEY, {});
}
