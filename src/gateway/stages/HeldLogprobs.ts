import type { TextStreamTransformer } from '../ResponseGuards.js';

/**
 * One streamed text behind its transformer, counting what the transformer released exactly as it
 * came: log probabilities spell the text token by token, so they may reach the client only for
 * text it already got unchanged.
 */
export class TrackedText implements TextStreamTransformer {
  /** Characters pushed so far. */
  pushed = 0;
  /** Characters released unchanged so far (meaningless once `changed`). */
  released = 0;
  /** The transformer released something other than what came in (a redaction, a swallowed run). */
  changed = false;
  /** Text pushed and not yet released (dropped once `changed`: nothing is compared after that). */
  private unreleased = '';

  constructor(private readonly inner: TextStreamTransformer) {}

  push(text: string): string {
    this.pushed += text.length;
    if (!this.changed) this.unreleased += text;
    return this.check(this.inner.push(text));
  }

  flush(): string {
    const out = this.check(this.inner.flush());
    // Text the transformer took in and never gave back was dropped: that is a change too.
    if (this.unreleased) this.changed = true;
    this.unreleased = '';
    return out;
  }

  private check(out: string): string {
    if (this.changed || !out) return out;
    if (this.unreleased.startsWith(out)) {
      this.released += out.length;
      this.unreleased = this.unreleased.slice(out.length);
    } else {
      this.changed = true;
      this.unreleased = '';
    }
    return out;
  }
}

type Held = { logprobs: unknown; needs: [TrackedText, number][] };

/**
 * Streamed `logprobs` per choice, held until the texts their chunk carried are released unchanged
 * (the redactor holds a tail of text back; log probabilities sent with their own chunk would spell
 * it out first). A choice with a redaction loses all later ones, as a redacted non-streamed choice
 * loses its `logprobs`.
 */
export class HeldLogprobs {
  private readonly queues = new Map<number, Held[]>();
  private readonly redacted = new Set<number>();

  /** The choice had a text changed by its transformer: its held and later logprobs are dropped. */
  redact(choice: number): void {
    this.redacted.add(choice);
    this.queues.delete(choice);
  }

  /** Holds a chunk's logprobs until `texts` (what the chunk carried, as pushed) are released. */
  hold(choice: number, logprobs: unknown, texts: readonly TrackedText[]): void {
    if (this.redacted.has(choice)) return;
    let q = this.queues.get(choice);
    if (!q) this.queues.set(choice, (q = []));
    q.push({ logprobs, needs: texts.map((t) => [t, t.pushed]) });
  }

  /** The choice's logprobs that may go out now, in order and joined into one, or null. */
  take(choice: number): unknown {
    const q = this.queues.get(choice);
    if (!q || this.redacted.has(choice)) return null;
    let n = 0;
    while (n < q.length && q[n]!.needs.every(([t, end]) => !t.changed && t.released >= end)) n++;
    if (n === 0) return null;
    const ready = q.splice(0, n).map((h) => h.logprobs);
    if (q.length === 0) this.queues.delete(choice);
    return ready.length === 1 ? ready[0] : joinLogprobs(ready);
  }
}

/**
 * Several chunks' logprobs as one: arrays (`content`, `refusal`; legacy `tokens`, `token_logprobs`,
 * `top_logprobs`, `text_offset`) concatenated in order. A shape it cannot join is dropped (null),
 * never guessed at.
 */
function joinLogprobs(list: readonly unknown[]): unknown {
  const out: Record<string, unknown> = {};
  for (const lp of list) {
    if (lp === null) continue;
    if (typeof lp !== 'object' || Array.isArray(lp)) return null;
    for (const [key, value] of Object.entries(lp)) {
      const have = out[key];
      if (Array.isArray(have) && Array.isArray(value)) out[key] = have.concat(value);
      else if (have === undefined || have === null) out[key] = value;
      else if (value !== null) return null;
    }
  }
  return out;
}
