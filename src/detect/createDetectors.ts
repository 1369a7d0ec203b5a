import type { Registry } from 'prom-client';
import type { DetectConfig } from '../config/sections/detect.js';
import type { DetectorEvent, DetectorDeps, Verdict, DetectorAction } from './types.js';
import type { FeatureProfile } from './profile/FeatureProfile.js';
import { loadProfile } from './profile/profileFiles.js';
import { OodDetector } from './ood/OodDetector.js';
import { DriftMonitor, type DriftReport } from './drift/DriftMonitor.js';
import { PerformanceMonitor, type AccuracyReport } from './performance/PerformanceMonitor.js';
import { PredictionLedger } from './performance/PredictionLedger.js';
import { ExtractionGuard } from './extraction/ExtractionGuard.js';
import { hardenOutput, type OipResponse } from './hardening/hardenOutput.js';
import { scoreInjection } from './injection/scoreInjection.js';
import { ExternalInjectionClassifier } from './injection/ExternalInjectionClassifier.js';
import { findSensitive, createScanBudget, type FindOptions, type ScanBudget } from './pii/findSensitive.js';
import { redactText, applyRedactions, type RedactionResult } from './pii/redactText.js';
import { StreamRedactor } from './pii/StreamRedactor.js';
import { DetectorMetrics } from './metrics/DetectorMetrics.js';
import { ModelStateMap } from './ModelStateMap.js';

/** A chat message as OpenAI-compatible APIs send it: string content or an array of parts. */
export interface ChatMessage {
  role: string;
  content?: unknown;
  [key: string]: unknown;
}

export interface CreateDetectorsDeps extends DetectorDeps {
  /** prom-client registry for the detector metrics (default: prom-client's global registry). */
  registry?: Registry;
  /** Profiles given directly (e.g. fitted at demo start-up), in addition to config paths. */
  profiles?: Record<string, FeatureProfile>;
  /**
   * Models the gateway's upstreams name (not `*`). Their state is never evicted and they (with the
   * profiled models) are the only `model` label values of the accuracy gauge; any other name
   * (served through a catch-all upstream, chosen by the client) is labelled "other".
   */
  models?: readonly string[];
  now?: () => number;
}

export interface GuardedCompletion {
  text: string;
  verdicts: Verdict[];
}

export interface Detectors {
  /** Injection (unless `injection: false`), PII and secrets on the scanned roles of a chat request. Synchronous. */
  inspectChat(messages: readonly ChatMessage[], route: string, o?: { injection?: boolean }): Verdict[];
  /**
   * The external classifier (if configured) on the same messages; awaited after inspectChat. Without
   * a classifier to call (none configured, detection or injection off) the list comes back right
   * away, not as a promise: the gateway then skips an await on every request.
   */
  inspectChatExternal(messages: readonly ChatMessage[], route: string): Verdict[] | Promise<Verdict[]>;
  /** Returns a copy of the messages with PII/secrets redacted in the scanned roles. */
  redactChat(messages: readonly ChatMessage[]): { messages: ChatMessage[]; kinds: string[] };
  /** Range/OOD, extraction signals and budget for an OIP v2 request, before the upstream call. */
  inspectInference(principal: string, model: string, inputs: readonly (readonly number[])[]): Verdict[];
  /** Extraction alarm and budget for an OIP v2 request without feature rows (an image batch, text tensors): `queries` inputs spend the budget. */
  inspectOpaqueInference(principal: string, model: string, queries: number): Verdict[];
  /** Whether OIP requests for this model must carry feature rows: detection is on and the model has a profile (OOD or drift). */
  expectsRows(model: string): boolean;
  /** After the upstream answered: PRADA on the predicted labels. */
  observePrediction(principal: string, model: string, inputs: readonly (readonly number[])[], labels: readonly number[]): Verdict[];
  /** Configured hardening; `outOfDistribution` (an OOD or range verdict on the request) adds label-only output when `ood.labelOnlyOutput`. */
  hardenOutput<T extends OipResponse>(model: string, response: T, request?: { outOfDistribution?: boolean }): T;
  /**
   * For a non-streamed completion: redacts/blocks/logs according to the completion actions.
   * `budget`: one per answer, shared by all its texts (createScanBudget); without one the call gets its own.
   */
  guardCompletion(text: string, budget?: ScanBudget): GuardedCompletion;
  redactText(text: string): RedactionResult;
  /**
   * For a streamed completion: a redactor per streamed text, or null when detection or completion
   * redaction is off (the stream passes as it came). `budget`: one per stream, shared by its redactors.
   */
  createStreamRedactor(budget?: ScanBudget): StreamRedactor | null;
  recordFeedback(model: string, predicted: string | number, actual: string | number): AccuracyReport;
  /** Predictions the gateway served, by request id: POST /v1/feedback labels only these, once each. */
  readonly predictions: PredictionLedger;
  /** Models with extraction state and with an accuracy window now (each bounded by `maxModels` plus the named models). */
  trackedModels(): { extraction: number; performance: number };
  driftReport(model: string): DriftReport | undefined;
  setProfile(model: string, profile: FeatureProfile): void;
  resetPrincipal(principal: string, model?: string): void;
  close(): Promise<void>;
}

/** A fresh empty list each time: callers may push to what they get back (an empty array costs nothing). */
const none = (): Verdict[] => [];
/** Messages sent to the external classifier (one call each); the local scan reads them all. */
const MAX_EXTERNAL_MESSAGES = 1024;

/** Characters of injection scan every message gets (its head and tail), also once the request's budget is spent. */
const MIN_SCAN_CHARS = 512;

type ToolCall = { function?: { arguments?: unknown }; custom?: { input?: unknown } };

/**
 * Fields of a content part the model reads, whatever the part's type: vLLM renders `text`
 * (text, input_text, output_text parts), `refusal` and `thinking` parts into the prompt in every role.
 */
export const PART_TEXT_FIELDS = ['text', 'refusal', 'thinking'] as const;

/** Text of a message besides `content` that chat templates render: reasoning (DeepSeek, vLLM) and refusals. */
export const MESSAGE_TEXT_FIELDS = ['reasoning_content', 'reasoning', 'refusal'] as const;

/**
 * Every other text of a message the model reads: its `name`, tool-call arguments and custom
 * tool-call input, legacy function-call arguments. Scanned for PII and secrets (in every role), not for injection.
 */
function messageExtras(m: ChatMessage): string {
  let out = typeof m.name === 'string' ? m.name : '';
  const calls = (m as { tool_calls?: unknown }).tool_calls;
  if (Array.isArray(calls)) {
    for (const c of calls as ToolCall[]) {
      if (typeof c?.function?.arguments === 'string') out += '\n' + c.function.arguments;
      if (typeof c?.custom?.input === 'string') out += '\n' + c.custom.input;
    }
  }
  const legacy = (m as { function_call?: { arguments?: unknown } }).function_call;
  if (typeof legacy?.arguments === 'string') out += '\n' + legacy.arguments;
  return out;
}

/**
 * Text of a message's content: a string, or the PART_TEXT_FIELDS of its parts (and string parts),
 * one per line. Media parts (images, audio, files) carry no text to read.
 */
export function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let out = '';
    for (const part of content) {
      if (typeof part === 'string') out += (out ? '\n' : '') + part;
      else if (part && typeof part === 'object') {
        for (const field of PART_TEXT_FIELDS) {
          const v = (part as Record<string, unknown>)[field];
          if (typeof v === 'string') out += (out ? '\n' : '') + v;
        }
      }
    }
    return out;
  }
  return '';
}

/** What the model reads of a message as its own words: content plus reasoning and refusal (scanned as content is). */
function messageReadText(m: ChatMessage): string {
  let out = messageText(m.content);
  for (const field of MESSAGE_TEXT_FIELDS) {
    const v = m[field];
    if (typeof v === 'string') out += (out ? '\n' : '') + v;
  }
  return out;
}

function mergeVerdict(list: Verdict[], v: Verdict): void {
  const same = list.find((x) => x.detector === v.detector);
  if (!same) {
    list.push(v);
    return;
  }
  if ((v.score ?? 0) > (same.score ?? 0)) same.score = v.score;
  if (v.kinds) same.kinds = [...new Set([...(same.kinds ?? []), ...v.kinds])];
}

/** Builds the gateway's detectors from `config.detect`. */
export function createDetectors(config: DetectConfig, deps: CreateDetectorsDeps): Detectors {
  const metrics = new DetectorMetrics(deps.registry);
  const emit = (e: DetectorEvent): void => {
    metrics.alarms.inc({ detector: e.detector });
    deps.emit(e);
  };
  const count = (verdicts: Verdict[]): Verdict[] => {
    for (const v of verdicts) metrics.verdicts.inc({ detector: v.detector, action: v.action });
    return verdicts;
  };

  const profiles = new Map<string, FeatureProfile>();
  for (const [model, path] of Object.entries(config.profiles)) profiles.set(model, loadProfile(path));
  for (const [model, p] of Object.entries(deps.profiles ?? {})) profiles.set(model, p);

  const ood = new Map<string, OodDetector>();
  const drift = new Map<string, DriftMonitor>();
  const driftAlarmed = new Set<string>();
  // Named and profiled models are the operator's (bounded by config); any other name is the client's.
  const named = new Set<string>((deps.models ?? []).filter((m) => m !== '*'));
  const isNamed = (model: string): boolean => named.has(model) || profiles.has(model);
  const extraction = new ModelStateMap<ExtractionGuard>(config.maxModels, isNamed);
  const attach = (model: string, p: FeatureProfile): void => {
    profiles.set(model, p);
    ood.set(model, new OodDetector(p, config.ood));
    drift.set(model, new DriftMonitor(p, config.drift));
    extraction.delete(model);
  };
  for (const [model, p] of profiles) attach(model, p);

  const guardFor = (model: string): ExtractionGuard =>
    extraction.getOrCreate(model, () => new ExtractionGuard(model, config.extraction, profiles.get(model), emit, deps.now));

  // One series per named model and one "other" (as the gateway's request metrics): a label per
  // client-chosen name would grow /metrics without bound.
  const performance = new PerformanceMonitor({ ...config.performance, maxModels: config.maxModels, isPinned: isNamed }, emit, (model, acc) =>
    metrics.accuracy.set({ model: isNamed(model) ? model : 'other' }, acc),
  );

  const findOptions = (category: 'pii' | 'secret'): FindOptions => ({
    pii: category === 'pii',
    secrets: category === 'secret',
    kinds: category === 'pii' ? config.pii.kinds : undefined,
    entropyBitsPerChar: config.secrets.entropyBitsPerChar,
    minTokenLength: config.secrets.minTokenLength,
  });
  const allFindOptions: FindOptions = {
    pii: config.pii.enabled,
    secrets: config.secrets.enabled,
    entropyBitsPerChar: config.secrets.entropyBitsPerChar,
    minTokenLength: config.secrets.minTokenLength,
  };
  // A stream cannot be blocked after it started: 'block' on completions redacts in streams.
  const completionRedactOptions: FindOptions = {
    pii: config.pii.enabled && config.pii.completionAction !== 'log',
    secrets: config.secrets.enabled && config.secrets.completionAction !== 'log',
    kinds: undefined,
    entropyBitsPerChar: config.secrets.entropyBitsPerChar,
    minTokenLength: config.secrets.minTokenLength,
  };
  // Nothing to redact (detection off, or PII and secrets only logged on completions): streams are
  // not rewritten at all, as non-streamed answers are left alone; logprobs included.
  const streamRedacts = config.enabled && (completionRedactOptions.pii || completionRedactOptions.secrets);
  const piiKinds = config.pii.kinds.length > 0 ? new Set(config.pii.kinds) : undefined;
  const keepFinding = (f: { category: string; kind: string }): boolean => f.category === 'secret' || !piiKinds || piiKinds.has(f.kind);
  const scannedRoles = new Set<string>(config.injection.roles);
  const external = config.injection.externalUrl
    ? new ExternalInjectionClassifier({ url: config.injection.externalUrl, timeoutMs: config.injection.externalTimeoutMs })
    : undefined;

  const routeSettings = (route: string): { enabled: boolean; threshold: number; action: DetectorAction } => {
    const r = config.injection.routes[route];
    return {
      enabled: config.injection.enabled && (r?.enabled ?? true),
      threshold: r?.threshold ?? config.injection.threshold,
      action: r?.action ?? config.injection.action,
    };
  };

  const inspectChat = (messages: readonly ChatMessage[], route: string, o?: { injection?: boolean }): Verdict[] => {
    if (!config.enabled || !Array.isArray(messages)) return none();
    let out: Verdict[] | undefined;
    // routeSettings inlined: no object per request.
    const r = config.injection.routes[route];
    const injEnabled = config.injection.enabled && (r?.enabled ?? true) && o?.injection !== false;
    const injThreshold = r?.threshold ?? config.injection.threshold;
    const injAction = r?.action ?? config.injection.action;
    // maxScanChars bounds the injection scan per request (not per message), so a large body of
    // many messages cannot multiply the CPU spent; every message still gets MIN_SCAN_CHARS (its
    // head and tail), so a long first message cannot hide an injection in a later one.
    // PII/secret scanning covers all text of every role (system prompts and tool calls carry
    // secrets too) and every message: the body size limit bounds the work, and a cap on the
    // count would let text past it through unread (a batch of prompts, a text tensor).
    let scanBudget = config.injection.maxScanChars;
    // Expensive checks (phone metadata) are bounded per request too, not per message.
    const checks = createScanBudget();
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (!m) continue;
      const content = messageReadText(m);
      if (injEnabled && content && scannedRoles.has(m.role)) {
        const allowed = Math.max(MIN_SCAN_CHARS, Math.min(content.length, scanBudget));
        scanBudget -= allowed;
        const s = scoreInjection(content, allowed);
        if (s.score >= injThreshold) mergeVerdict((out ??= []), { detector: 'injection', action: injAction, score: s.score, kinds: s.kinds, source: m.role });
      }
      const extras = messageExtras(m);
      const text = extras ? `${content}\n${extras}` : content;
      if (text && (config.pii.enabled || config.secrets.enabled)) {
        const findings = findSensitive(text, allFindOptions, checks);
        for (const f of findings) {
          if (!keepFinding(f)) continue;
          if (f.category === 'pii') mergeVerdict((out ??= []), { detector: 'pii', action: config.pii.promptAction, kinds: [f.kind], source: m.role });
          else mergeVerdict((out ??= []), { detector: 'secrets', action: config.secrets.promptAction, kinds: [f.kind], source: m.role });
        }
      }
    }
    return out ? count(out) : none();
  };

  const inspectChatExternal = (messages: readonly ChatMessage[], route: string): Verdict[] | Promise<Verdict[]> => {
    if (!external || !config.enabled) return none();
    const inj = routeSettings(route);
    if (!inj.enabled) return none();
    return scoreExternally(external, messages, inj.action);
  };

  const scoreExternally = async (classifier: ExternalInjectionClassifier, messages: readonly ChatMessage[], action: DetectorAction): Promise<Verdict[]> => {
    const out: Verdict[] = [];
    for (const m of messages.slice(0, MAX_EXTERNAL_MESSAGES)) {
      if (!m || !scannedRoles.has(m.role)) continue;
      const text = messageReadText(m);
      if (!text) continue;
      try {
        const score = await classifier.score(text.slice(0, config.injection.maxScanChars));
        if (score >= config.injection.externalThreshold) mergeVerdict(out, { detector: 'injection-external', action, score, source: m.role });
      } catch (err) {
        if (!config.injection.externalFailOpen) mergeVerdict(out, { detector: 'injection-external', action: 'block', kinds: ['classifier_unavailable'], source: m.role });
        else mergeVerdict(out, { detector: 'injection-external', action: 'log', kinds: ['classifier_unavailable'], source: m.role });
        void err;
      }
    }
    return count(out);
  };

  const redactChat = (messages: readonly ChatMessage[]): { messages: ChatMessage[]; kinds: string[] } => {
    const kinds = new Set<string>();
    const checks = createScanBudget();
    const redactOne = (text: string): string => {
      const findings = findSensitive(text, allFindOptions, checks).filter((f) =>
        keepFinding(f) && (f.category === 'pii' ? config.pii.promptAction === 'redact' : config.secrets.promptAction === 'redact'),
      );
      for (const f of findings) kinds.add(f.kind);
      return findings.length ? applyRedactions(text, findings) : text;
    };
    /** A part with every PART_TEXT_FIELDS string redacted (a string part: the string redacted). */
    const redactPart = (p: unknown): unknown => {
      if (typeof p === 'string') return redactOne(p);
      if (!p || typeof p !== 'object') return p;
      let out: Record<string, unknown> | undefined;
      for (const field of PART_TEXT_FIELDS) {
        const v = (p as Record<string, unknown>)[field];
        if (typeof v === 'string') (out ??= { ...(p as Record<string, unknown>) })[field] = redactOne(v);
      }
      return out ?? p;
    };
    const out = messages.map((m) => {
      if (!m) return m;
      let r: ChatMessage = m;
      if (typeof m.content === 'string') r = { ...r, content: redactOne(m.content) };
      else if (Array.isArray(m.content)) r = { ...r, content: m.content.map(redactPart) };
      for (const field of MESSAGE_TEXT_FIELDS) {
        const v = m[field];
        if (typeof v === 'string') r = { ...r, [field]: redactOne(v) };
      }
      if (typeof m.name === 'string') r = { ...r, name: redactOne(m.name) };
      const calls = (m as { tool_calls?: unknown }).tool_calls;
      if (Array.isArray(calls)) {
        const redacted = (calls as ToolCall[]).map((c) => {
          let call = c;
          if (typeof c?.function?.arguments === 'string') call = { ...call, function: { ...c.function, arguments: redactOne(c.function.arguments) } };
          if (typeof c?.custom?.input === 'string') call = { ...call, custom: { ...c.custom, input: redactOne(c.custom.input) } };
          return call;
        });
        r = { ...r, tool_calls: redacted } as ChatMessage;
      }
      const legacy = (m as { function_call?: { arguments?: unknown } }).function_call;
      if (typeof legacy?.arguments === 'string') r = { ...r, function_call: { ...legacy, arguments: redactOne(legacy.arguments) } };
      return r;
    });
    return { messages: out, kinds: [...kinds] };
  };

  const inspectInference = (principal: string, model: string, inputs: readonly (readonly number[])[]): Verdict[] => {
    if (!config.enabled) return none();
    let out: Verdict[] | undefined;
    const detector = config.ood.enabled ? ood.get(model) : undefined;
    const monitor = config.drift.enabled ? drift.get(model) : undefined;
    const guard = config.extraction.enabled ? guardFor(model) : undefined;
    for (const row of inputs) {
      let isOod = false;
      if (detector) {
        const c = detector.check(row);
        isOod = c.ood;
        if (c.rangeViolations > 0) mergeVerdict((out ??= []), { detector: 'range', action: config.ood.action, score: c.rangeViolations });
        if (c.score > 1) mergeVerdict((out ??= []), { detector: 'ood', action: config.ood.action, score: c.score });
      }
      if (monitor) {
        const report = monitor.add(row);
        if (report) publishDrift(model, report);
      }
      if (guard) {
        const st = guard.observeQuery(principal, row, isOod);
        if (st.alarmed) mergeVerdict((out ??= []), { detector: 'extraction', action: config.extraction.action });
        if (st.overBudget) mergeVerdict((out ??= []), { detector: 'budget', action: 'block' });
      }
    }
    return out ? count(out) : none();
  };

  const publishDrift = (model: string, report: DriftReport): void => {
    for (const f of report.features) {
      metrics.driftPsi.set({ model, feature: f.feature }, f.psi);
      metrics.driftKs.set({ model, feature: f.feature }, f.ks);
    }
    if (report.drifted.length > 0 && !driftAlarmed.has(model)) {
      driftAlarmed.add(model);
      const worst = report.features.reduce((a, b) => (b.psi > a.psi ? b : a));
      emit({
        type: 'detector.alarm',
        detector: 'drift',
        model,
        details: { features: report.drifted.join(','), samples: report.samples, maxPsi: worst.psi, maxPsiFeature: worst.feature, psiAlarm: config.drift.psiAlarm, ksPValue: config.drift.ksPValue },
      });
    } else if (report.drifted.length === 0) {
      driftAlarmed.delete(model);
    }
  };

  const inspectOpaqueInference = (principal: string, model: string, queries: number): Verdict[] => {
    if (!config.enabled || !config.extraction.enabled) return none();
    const st = guardFor(model).countOpaqueQueries(principal, queries);
    let out: Verdict[] | undefined;
    if (st.alarmed) mergeVerdict((out ??= []), { detector: 'extraction', action: config.extraction.action });
    if (st.overBudget) mergeVerdict((out ??= []), { detector: 'budget', action: 'block' });
    return out ? count(out) : none();
  };

  const observePrediction = (principal: string, model: string, inputs: readonly (readonly number[])[], labels: readonly number[]): Verdict[] => {
    if (!config.enabled || !config.extraction.enabled) return none();
    const guard = guardFor(model);
    let alarmed = false;
    const n = Math.min(inputs.length, labels.length);
    for (let i = 0; i < n; i++) alarmed = guard.observePrediction(principal, inputs[i]!, labels[i]!).alarmed || alarmed;
    return alarmed ? count([{ detector: 'extraction', action: config.extraction.action }]) : none();
  };

  const guardCompletion = (text: string, budget?: ScanBudget): GuardedCompletion => {
    if (!config.enabled) return { text, verdicts: none() };
    const found = findSensitive(text, allFindOptions, budget);
    // Nearly every answer has no finding: no filtered copy then.
    const findings = found.length === 0 ? found : found.filter(keepFinding);
    if (findings.length === 0) return { text, verdicts: none() };
    const verdicts: Verdict[] = [];
    const toRedact = findings.filter((f) => (f.category === 'pii' ? config.pii.completionAction : config.secrets.completionAction) === 'redact');
    for (const f of findings) {
      const action = f.category === 'pii' ? config.pii.completionAction : config.secrets.completionAction;
      mergeVerdict(verdicts, { detector: f.category === 'pii' ? 'pii' : 'secrets', action, kinds: [f.kind], source: 'completion' });
    }
    return { text: toRedact.length ? applyRedactions(text, toRedact) : text, verdicts: count(verdicts) };
  };

  return {
    inspectChat,
    inspectChatExternal,
    redactChat,
    inspectInference,
    inspectOpaqueInference,
    expectsRows: (model) => config.enabled && ((config.ood.enabled && ood.has(model)) || (config.drift.enabled && drift.has(model))),
    observePrediction,
    hardenOutput: (model, response, request) =>
      hardenOutput(response, request?.outOfDistribution && config.enabled && config.ood.enabled && config.ood.labelOnlyOutput ? { ...config.hardening[model], top1Only: true } : config.hardening[model]),
    guardCompletion,
    redactText: (text) => redactText(text, allFindOptions),
    createStreamRedactor: (budget) => (streamRedacts ? new StreamRedactor(completionRedactOptions, budget) : null),
    recordFeedback: (model, predicted, actual) => performance.record(model, predicted, actual),
    predictions: new PredictionLedger(config.performance.maxPendingPredictions, config.performance.feedbackTtlSeconds * 1000, deps.now),
    trackedModels: () => ({ extraction: extraction.size, performance: performance.size }),
    driftReport: (model) => drift.get(model)?.report,
    setProfile: attach,
    resetPrincipal: (principal, model) => {
      for (const [m, g] of extraction.entries()) if (model === undefined || m === model) g.reset(principal);
    },
    close: async () => {
      await external?.close();
    },
  };
}
