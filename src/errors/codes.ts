/**
 * Registry of stable error codes. Each area keeps its own table in codes/<area>.ts so
 * areas can grow independently; docs/errors.md is generated from (and tested against) this.
 */
import { coreCodes } from './codes/core.js';
import { configCodes } from './codes/config.js';
import { storeCodes } from './codes/store.js';
import { authnCodes } from './codes/authn.js';
import { authzCodes } from './codes/authz.js';
import { gatewayCodes } from './codes/gateway.js';
import { identityCodes } from './codes/identity.js';
import { policyCodes } from './codes/policy.js';
import { auditCodes } from './codes/audit.js';
import { artifactCodes } from './codes/artifacts.js';
import { scanCodes } from './codes/scan.js';
import { detectCodes } from './codes/detect.js';
import { respondCodes } from './codes/respond.js';

export interface ErrorCodeInfo {
  /** HTTP status used when this error ends a request. */
  status: number;
  /** One sentence, safe to show to any caller. */
  description: string;
}

export const errorCodes = {
  ...coreCodes,
  ...configCodes,
  ...storeCodes,
  ...authnCodes,
  ...authzCodes,
  ...gatewayCodes,
  ...identityCodes,
  ...policyCodes,
  ...auditCodes,
  ...artifactCodes,
  ...scanCodes,
  ...detectCodes,
  ...respondCodes,
} satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof errorCodes;
