/**
 * AI threat detectors for the gateway pipeline: model extraction (PRADA, OOD rate, new-region
 * rate, budgets), out-of-distribution inputs, drift, model performance, prompt injection, and
 * PII/secrets with streaming redaction. See docs/detect.md.
 */
export { createDetectors, messageText, type Detectors, type ChatMessage, type CreateDetectorsDeps, type GuardedCompletion } from './createDetectors.js';
export { createGatewayGuards, oipRows, type DetectorGuards, type GuardRequestContext, type GuardOptions } from './createGatewayGuards.js';
export { throwIfBlocked, verdictsForAudit, parseFeedback, feedbackSchema, type Feedback } from './enforceVerdicts.js';
export { guardCodeFor, type Verdict, type DetectorEvent, type DetectorName, type DetectorAction, type DetectorDeps } from './types.js';
export { featureProfileSchema, type FeatureProfile } from './profile/FeatureProfile.js';
export { fitProfile, mahalanobis, type FitProfileOptions } from './profile/fitProfile.js';
export { loadProfile, saveProfile, parseProfile } from './profile/profileFiles.js';
export { readDataFile, type TrainingData, type ReadDataOptions } from './profile/readDataFile.js';
export { OodDetector, type OodCheck } from './ood/OodDetector.js';
export { DriftMonitor, type DriftReport, type FeatureDrift } from './drift/DriftMonitor.js';
export { PerformanceMonitor, type AccuracyReport } from './performance/PerformanceMonitor.js';
export { PradaDetector, type PradaResult } from './extraction/PradaDetector.js';
export { ExtractionGuard, type ExtractionSignal } from './extraction/ExtractionGuard.js';
export { hardenOutput, type HardeningOptions, type OipResponse, type OipTensor } from './hardening/hardenOutput.js';
export { scoreInjection, type InjectionScore } from './injection/scoreInjection.js';
export { ExternalInjectionClassifier } from './injection/ExternalInjectionClassifier.js';
export { normalizeText } from './text/normalizeText.js';
export { findSensitive, recognizerKinds, type SensitiveFinding } from './pii/findSensitive.js';
export { redactText, type RedactionResult } from './pii/redactText.js';
export { StreamRedactor } from './pii/StreamRedactor.js';
export { luhnValid, ssnValid, shannonEntropy } from './pii/checksums.js';
export { shapiroWilk } from './stats/shapiroWilk.js';
export { ksTwoSample } from './stats/ksTwoSample.js';
export { populationStabilityIndex } from './stats/populationStabilityIndex.js';
export { DetectorMetrics } from './metrics/DetectorMetrics.js';
