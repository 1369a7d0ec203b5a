export { type Authorizer, type AuthzRequest, type Decision, type EntityRef, entityToString } from './Authorizer.js';
export { ScopeAuthorizer } from './ScopeAuthorizer.js';
export {
  CompiledPolicySet,
  compilePolicySet,
  policySetDigest,
  type CompileOptions,
  type PolicyInfo,
  type EvaluatorStats,
} from './CompiledPolicySet.js';
export { ReferenceAuthorizer, REQUEST_ERROR_ID } from './ReferenceAuthorizer.js';
export { parsePolicySet, assertSplitMatchesCedar, describeCedarErrors, MAX_POLICIES, MAX_POLICY_TEXT_BYTES, type ParsedPolicy } from './parsePolicySet.js';
export { loadSchema, validatePolicies, validateEntities, schemaViolations, type LoadedSchema } from './schema.js';
export { requestEntitiesJson } from './requestEntities.js';
export type { CedarEntityJson, EntityUidJson } from './cedar/EntityStore.js';
export { CachingAuthorizer, type CachingAuthorizerOptions } from './CachingAuthorizer.js';
export { FailClosedAuthorizer } from './FailClosedAuthorizer.js';
export { buildRequestContext, parseEntityRef, type RequestContextInput } from './requestContext.js';
export { cedarEntity, cedarString, INVISIBLE } from './entityLiteral.js';
export { PolicyBundleHolder, type InstallResult } from './PolicyBundleHolder.js';
export { PolicyRepository, type PolicyVersion, type PolicyVersionSummary, type PublishInput } from './PolicyRepository.js';
export {
  signBundle,
  verifyBundle,
  loadOrCreateBundleKey,
  bundleKeyPath,
  keyIdOf,
  type PolicyBundle,
  type BundleKey,
  type VerifyBundleOptions,
} from './bundle.js';
export { analyzePolicySet, observedPolicy, type KeyScopeGrant, type AnalyzerFinding, type AnalysisReport, type AnalyzeOptions, type ObservedDecision, type Severity } from './analyzePolicySet.js';
export { importIamPolicy, type IamImportResult } from './importIamPolicy.js';
export { runPolicyTests, type PolicyTestReport, type PolicyTestResult } from './runPolicyTests.js';
export { explainDecision, parseAuthzRequest, type Explanation, type AuthzRequestInput } from './explainDecision.js';
export { readAuditJsonl } from './readAuditJsonl.js';
export { registerPolicyMetrics } from './policyMetrics.js';
export { KEY_SCOPE_ID_PREFIX, assertNoReservedPolicyIds } from './reservedPolicyIds.js';
