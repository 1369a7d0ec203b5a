export { ArtifactRegistry, type ArtifactRegistryDeps, type FrozenDatasetCheck, type RegisterInput, type VersionRecord, type AttestationRecord, type Stage, type PromotionPolicy, type ApprovalContext, type ScannerIdentities } from './ArtifactRegistry.js';
export { ApproverListAuthorizer } from './ApproverListAuthorizer.js';
export { parseRef, parseEntity, checkName, checkVersion } from './refs.js';
export { checkScanCoverage } from './scanCoverage.js';
