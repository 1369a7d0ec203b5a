import { Agent, request } from 'undici';
import { WardenError } from '../../errors/index.js';

export interface ExternalClassifierOptions {
  /** POST endpoint receiving {"text": "..."} and answering {"score": 0..1} (or {"label","score"}). */
  url: string;
  timeoutMs: number;
  /** CA bundle (PEM) for an https endpoint with a private CA. */
  ca?: string;
}

const INJECTION_LABELS = /^(injection|jailbreak|malicious|unsafe|label_1)$/i;

/**
 * Pluggable model-based classifier (e.g. a Prompt Guard server) over HTTP. Asynchronous, so the
 * gateway awaits it after the synchronous checks; the text is sent to the operator's own
 * classifier only and is never logged here.
 */
export class ExternalInjectionClassifier {
  private readonly agent: Agent;

  constructor(private readonly options: ExternalClassifierOptions) {
    this.agent = new Agent({ connect: { ca: options.ca, minVersion: 'TLSv1.2' }, keepAliveTimeout: 30_000 });
  }

  /** Probability that `text` is an injection; throws WARDEN_DETECT_CLASSIFIER_UNAVAILABLE on failure. */
  async score(text: string): Promise<number> {
    let body: unknown;
    try {
      const res = await request(this.options.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const raw = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      body = JSON.parse(raw);
    } catch (cause) {
      throw new WardenError('WARDEN_DETECT_CLASSIFIER_UNAVAILABLE', 'the external prompt-injection classifier did not answer', { cause });
    }
    const b = (Array.isArray(body) ? body[0] : body) as { score?: unknown; label?: unknown } | undefined;
    const score = typeof b?.score === 'number' && b.score >= 0 && b.score <= 1 ? b.score : undefined;
    if (score === undefined) throw new WardenError('WARDEN_DETECT_CLASSIFIER_UNAVAILABLE', 'the external classifier answered without a score in [0, 1]');
    // {"label": "BENIGN", "score": 0.99} means 99% benign.
    if (typeof b?.label === 'string' && !INJECTION_LABELS.test(b.label)) return 1 - score;
    return score;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
