import { randomBytes } from 'node:crypto';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';
import { permitAllSnapshots } from './gatewaySnapshot.js';

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
