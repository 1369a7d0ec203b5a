import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, join } from 'node:path';
import type { LoadedConfig } from '../config/index.js';
import { WardenError } from '../errors/index.js';
import { openAuditLog, type AuditLog } from '../audit/index.js';
import { openStore, AdminTokenRepository, newAdminTokenId, type Database } from '../store/index.js';
import { loadServerSecret } from './serverSecret.js';

export interface MintedAdminToken {
  id: string;
  name: string;
  /** Shown once; only its HMAC is stored. */
  token: string;
}

export interface MintAdminTokenOptions {
  /**
   * PostgreSQL only: the operator vouches that no `warden server` uses the database. Nothing here
   * can see a control plane on another host, and one that is running would find our audit
   * records in its table and fail closed until restarted.
   */
  controlPlaneStopped?: boolean;
}

/**
 * `warden admin-token create`: the way back in when no admin token is known (lost, or a first
 * start that never showed one), for whoever can read the data dir. Runs only while no Warden
 * process holds it (the embedded store and audit log have one writer); the minting is audited
 * before the token exists, like an admin change through the API.
 */
export async function mintAdminTokenOffline(config: LoadedConfig, name: string, options: MintAdminTokenOptions = {}): Promise<MintedAdminToken> {
  const embedded = !config.database.url;
  if (embedded && !existsSync(join(config.dataDir, 'db'))) {
    throw new WardenError('WARDEN_INPUT_INVALID', `no Warden state in ${config.dataDir} (run warden up first, or pass --data-dir)`);
  }
  if (!embedded && !options.controlPlaneStopped) {
    throw new WardenError(
      'WARDEN_AUDIT_LOCKED',
      'with PostgreSQL a control plane may be running on another host and this command cannot see it; a running one would fail closed on the audit records written here. ' +
        'Stop every `warden server` using this database, then rerun with --control-plane-stopped',
    );
  }
  refuseWhileServing(config.dataDir);
  let db: Database | undefined;
  let audit: AuditLog | undefined;
  try {
    // Embedded: the audit log's LOCK first, so a running `warden up` is refused before its store is opened twice.
    if (embedded) audit = await openAuditLog({ dataDir: config.dataDir, audit: config.audit });
    db = await openStore({ databaseUrl: config.database.url || undefined, dataDir: config.dataDir, poolSize: 1 });
    audit ??= await openAuditLog({ dataDir: config.dataDir, audit: config.audit, db });
    const serverSecret = loadServerSecret(config.dataDir);
    const id = newAdminTokenId();
    const base = { kind: 'admin' as const, action: 'admin.token.create', principal: localPrincipal(), resource: `AdminToken::${JSON.stringify(id)}`, decision: 'allow' as const };
    await audit.append({ ts: new Date().toISOString(), ...base, details: { name, via: 'data-dir', outcome: 'attempted' } });
    const created = await new AdminTokenRepository(db, serverSecret).create(name, 'admin', id);
    await audit.append({ ts: new Date().toISOString(), ...base, details: { name, via: 'data-dir', outcome: 'committed' } });
    return { id: created.id, name, token: created.token };
  } catch (err) {
    if (err instanceof WardenError && err.code === 'WARDEN_AUDIT_LOCKED') {
      throw new WardenError(
        'WARDEN_AUDIT_LOCKED',
        `a Warden process holds ${config.dataDir} (${err.message}); stop it first. If no Warden process runs, the pid is left by a killed start: delete ${join(config.dataDir, 'audit', 'LOCK')} and retry`,
      );
    }
    throw err;
  } finally {
    await audit?.close().catch(() => undefined);
    await db?.close().catch(() => undefined);
  }
}

/** `server.json` names the pid of a running `warden up`/`server` (removed on a clean stop). */
function refuseWhileServing(dataDir: string): void {
  const serverFile = join(dataDir, 'server.json');
  let pid: number;
  try {
    pid = Number((JSON.parse(readFileSync(serverFile, 'utf8')) as { pid?: unknown }).pid);
  } catch {
    return;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return;
  }
  // A start killed before its clean stop leaves server.json behind, and its pid may since name another process.
  if (!mayBeWarden(pid)) return;
  throw new WardenError(
    'WARDEN_AUDIT_LOCKED',
    `a Warden process (pid ${pid}, from ${serverFile}) holds ${dataDir}; stop it first. If no Warden process runs, ${serverFile} is left by a killed start: delete it and retry`,
  );
}

/**
 * Linux: the pid's command line must name warden (bin/warden.js, an npx/.bin `warden`) or node
 * (a build run directly). Elsewhere, or when /proc cannot be read, assume it may be Warden (fail closed).
 */
function mayBeWarden(pid: number): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return true;
  }
  if (argv.some((a) => a.toLowerCase().includes('warden'))) return true;
  return /^node(js)?(\d+)?$/.test(basename(argv[0] ?? ''));
}

/** Whoever ran the command, as the OS names them: the data dir's owner is the authority here. */
function localPrincipal(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry (containers) */
  }
  return `Local::${JSON.stringify(user)}`;
}
