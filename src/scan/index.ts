export { scanPaths, scanFile, summarize, worstSeverity } from './scanPaths.js';
export { toSarif } from './report/toSarif.js';
export { renderText } from './report/renderText.js';
export { ruleDescriptions } from './report/rules.js';
export { toAttestationPredicate, SCAN_PREDICATE_TYPE, type ScanPredicate } from './report/toAttestationPredicate.js';
export { atOrAbove, isSeverity, severityRank } from './severity.js';
export { detectFormat } from './detectFormat.js';
export { classifyGlobal } from './pickle/classifyGlobal.js';
export {
  severities, defaultScanLimits,
  type Severity, type Finding, type FileReport, type ScanReport, type ScanSummary, type ScanOptions, type ScanLimits,
} from './types.js';
