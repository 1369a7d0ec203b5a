import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';
import { loadOrCreateAuthority } from '../../src/identity/index.js';
import { permitAllSnapshots } from './gatewaySnapshot.js';

export { SECOND_TEST_KEY } from './gatewaySnapshot.js';

/** The server secret and the one API key (principal ApiKey::"test") of every in-process test gateway. */
export const TEST_SECRET = randomBytes(32);
export const TEST_KEY = `wdn_abcdefghijkl_${'A'.repeat(43)}`;

/**
 * An in-process gateway on a free loopback port: plain HTTP, no upstreams, a permit-all policy
 * for TEST_KEY, a no-op audit log and a silent logger, unless `overrides` say otherwise.
 */
export function startTestGateway(overrides: Partial<GatewayOptions> = {}): Promise<RunningGateway> {
  return startGateway({
    host: '127.0.0.1',
    port: 0,
    tls: null,
    upstreams: [],
    snapshots: permitAllSnapshots(TEST_SECRET, TEST_KEY),
    audit: { append: async () => undefined, queueDepth: 0, flush: async () => undefined, close: async () => undefined },
    logger: createLogger({ level: 'silent' }),
    serverSecret: TEST_SECRET,
    maxBodyBytes: 65536,
    ...overrides,
  });
}

/**
 * A TLS test gateway (certificate for localhost/127.0.0.1 from a fresh CA, which is also the
 * client-CA list) for the duration of `body`, which gets the CA bundle to trust it.
 */
export async function withTlsGateway(body: (gateway: RunningGateway, ca: string) => Promise<void>, overrides: Partial<GatewayOptions> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-tlsgateway-'));
  const authority = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  try {
    const c = await authority.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const gateway = await startTestGateway({ tls: { certPem: c.chainPem, keyPem: c.keyPem, caPem: authority.bundlePem() }, ...overrides });
    try {
      await body(gateway, authority.bundlePem());
    } finally {
      await gateway.close(0);
    }
  } finally {
    await authority.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
