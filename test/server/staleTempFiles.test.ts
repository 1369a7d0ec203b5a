import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden } from '../../src/server/index.js';
import { removeDir, tempDataDir } from '../helpers/warden.js';

test('warden start removes the temp files a crash left in keys/ and the data dir; a fresh one (another process writing) and other files stay', async (t) => {
  const dataDir = tempDataDir('warden-stale-tmp-');
  t.after(() => removeDir(dataDir));
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const hourAgo = new Date(Date.now() - 3_600_000);
  const stale = [join('keys', '.server-secret.0123456789ab.tmp'), '.bundle.pem.a1b2c3d4e5f6.tmp'];
  const kept = [join('keys', '.policy-bundle.key.fedcba987654.tmp'), join('keys', '.server-secret.tmp'), join('keys', 'notes.0123456789ab.tmp')];
  for (const f of [...stale, ...kept]) writeFileSync(join(dataDir, f), 'secret material', { mode: 0o600 });
  for (const f of [...stale, ...kept.slice(1)]) utimesSync(join(dataDir, f), hourAgo, hourAgo);

  const config = loadConfig({ dataDir, env: {}, overrides: { 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false, gateway: false });
  await warden.close();
  for (const f of stale) assert.equal(existsSync(join(dataDir, f)), false, `${f} was removed`);
  for (const f of kept) assert.ok(existsSync(join(dataDir, f)), `${f} was kept`);
});
