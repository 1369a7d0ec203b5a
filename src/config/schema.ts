import { z } from 'zod';
import { serverSection } from './sections/server.js';
import { databaseSection } from './sections/database.js';
import { gatewaySection } from './sections/gateway.js';
import { logSection } from './sections/log.js';
import { auditSection } from './sections/audit.js';
import { identitySection } from './sections/identity.js';
import { policySection } from './sections/policy.js';
import { artifactsSection } from './sections/artifacts.js';
import { scanSection } from './sections/scan.js';
import { detectSection } from './sections/detect.js';
import { respondSection } from './sections/respond.js';
import { observeSection } from './sections/observe.js';

/** warden.yaml. Every section is strict: unknown keys are rejected with their path. */
export const configSchema = z.strictObject({
  server: serverSection,
  database: databaseSection,
  gateway: gatewaySection,
  log: logSection,
  audit: auditSection,
  identity: identitySection,
  policy: policySection,
  artifacts: artifactsSection,
  scan: scanSection,
  detect: detectSection,
  respond: respondSection,
  observe: observeSection,
});

export type WardenConfig = z.infer<typeof configSchema>;
export type WardenConfigInput = z.input<typeof configSchema>;
