import { findSensitive, createScanBudget, earnPhoneChecks, type FindOptions, type ScanBudget } from './findSensitive.js';
import { applyRedactions, redactionMarker } from './redactText.js';

export interface StreamRedactorOptions extends FindOptions {
  /**
   * Characters always held back: longer than any recognizer whose value may contain spaces
   * (card numbers, IBANs, phone numbers), so such a value is complete before it is released.
   */
  holdBack?: number;
  /** Largest buffered text; beyond it a still-open value is redacted as a whole and released. */
  maxBuffer?: number;
}

const KEY_BEGIN = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY/g;
const KEY_END_PROBE = /-----END /;
/** Longest private-key block held back whole (RSA-8192 PKCS#8 PEM is about 6.3 KB). */
const KEY_BLOCK_MAX = 16_384;

/**
 * Redacts a text stream (SSE completion deltas) whose sensitive values may be split across
 * chunks. It releases text only up to a cut that no value can straddle: at least `holdBack`
 * characters from the end, never inside a non-space run (tokens, emails, JWTs), never inside an
 * unterminated private-key block. Hand-written: this is the product's own streaming logic.
 */
export class StreamRedactor {
  private buffer = '';
  private readonly found = new Set<string>();
  private readonly holdBack: number;
  private readonly maxBuffer: number;
  private swallowing: 'private_key' | 'high_entropy_token' | undefined;
  /** The buffer holds a BEGIN … PRIVATE KEY line whose END has not arrived. */
  private openKey = false;
  /** buffer[0, noSpaceBefore) is known to hold no whitespace. */
  private noSpaceBefore = 0;

  /**
   * @param budget expensive checks for the whole stream (shared with the other texts of the same
   * answer when given): the buffer is rescanned on every chunk, and a per-scan budget would grow with the stream.
   */
  constructor(
    private readonly options: StreamRedactorOptions = {},
    private readonly budget: ScanBudget = createScanBudget(),
  ) {
    this.holdBack = options.holdBack ?? 64;
    this.maxBuffer = options.maxBuffer ?? 65_536;
  }

  /** Kinds redacted so far in this stream. */
  get kinds(): string[] {
    return [...this.found];
  }

  push(text: string): string {
    if (this.swallowing) {
      text = this.skipSwallowed(text);
      if (this.swallowing) return '';
    }
    this.buffer += text;
    earnPhoneChecks(this.budget, text.length);
    if (this.openKey) {
      // Held at an unterminated key block: nothing can be released until an END line arrives.
      KEY_END_PROBE.lastIndex = 0;
      if (!KEY_END_PROBE.test(this.buffer.slice(Math.max(0, this.buffer.length - text.length - 64)))) {
        return this.buffer.length > KEY_BLOCK_MAX ? this.forceRelease() : '';
      }
    }
    if (this.buffer.length <= this.holdBack) return '';
    // Nothing can be released before a whitespace below the hold-back line: skip the scan (keeps a
    // long token streamed in tiny deltas linear instead of rescanning a growing buffer).
    const limit = this.buffer.length - this.holdBack;
    let space = -1;
    for (let i = this.noSpaceBefore; i < limit; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c === 32 || c === 10 || c === 9 || c === 13 || c === 12 || c === 11 || c === 0xa0 || c === 0x2028 || c === 0x2029 || c === 0x3000) {
        space = i;
        break;
      }
    }
    if (space === -1) {
      this.noSpaceBefore = limit;
      return this.buffer.length > this.maxBuffer ? this.forceRelease() : '';
    }
    const findings = findSensitive(this.buffer, this.options, this.budget);
    let cut = this.buffer.length - this.holdBack;
    // Not inside a run of non-space characters (the run may continue in the next chunk).
    while (cut > 0 && !/\s/.test(this.buffer[cut - 1]!)) cut--;
    // Not inside a private-key block whose END line has not arrived.
    const closedKeys = new Set(findings.filter((f) => f.kind === 'private_key').map((f) => f.start));
    KEY_BEGIN.lastIndex = 0;
    let m: RegExpExecArray | null;
    this.openKey = false;
    while ((m = KEY_BEGIN.exec(this.buffer)) !== null) {
      if (closedKeys.has(m.index)) continue;
      this.openKey = true;
      if (m.index < cut) cut = m.index;
      break;
    }
    // Not inside a finding.
    for (const f of findings) if (f.start < cut && f.end > cut) cut = f.start;
    if (cut <= 0) {
      if (this.buffer.length > this.maxBuffer) return this.forceRelease();
      return '';
    }
    for (const f of findings) if (f.end <= cut) this.found.add(f.kind);
    const out = applyRedactions(this.buffer, findings, 0, cut);
    this.buffer = this.buffer.slice(cut);
    this.noSpaceBefore = 0;
    return out;
  }

  /** End of stream: releases the rest, redacted. */
  flush(): string {
    const rest = this.buffer;
    this.buffer = '';
    if (!rest) return '';
    const findings = findSensitive(rest, this.options, this.budget);
    for (const f of findings) this.found.add(f.kind);
    KEY_BEGIN.lastIndex = 0;
    const open = KEY_BEGIN.exec(rest);
    if (open && !findings.some((f) => f.kind === 'private_key')) {
      // A truncated key block is still key material.
      this.found.add('private_key');
      return applyRedactions(rest.slice(0, open.index), findings.filter((f) => f.end <= open.index)) + redactionMarker('private_key');
    }
    return applyRedactions(rest, findings);
  }

  /** Over the limit with no safe cut: the oversized run is treated as a secret and swallowed to its end. */
  private forceRelease(): string {
    KEY_BEGIN.lastIndex = 0;
    const open = this.openKey ? KEY_BEGIN.exec(this.buffer) : null;
    const kind = open ? 'private_key' : 'high_entropy_token';
    // Text before an open key block is released (redacted); the block itself never is.
    const before = open ? this.buffer.slice(0, open.index) : '';
    const findings = before ? findSensitive(before, this.options, this.budget) : [];
    for (const f of findings) this.found.add(f.kind);
    this.found.add(kind);
    this.swallowing = kind;
    this.buffer = '';
    this.noSpaceBefore = 0;
    this.openKey = false;
    return applyRedactions(before, findings) + redactionMarker(kind);
  }

  /** Drops text of a swallowed run; returns what follows its end. */
  private skipSwallowed(text: string): string {
    const end = this.swallowing === 'private_key' ? /-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/.exec(text) : /\s/.exec(text);
    if (!end) return '';
    const skip = end.index + (this.swallowing === 'private_key' ? end[0].length : 0);
    this.swallowing = undefined;
    return text.slice(skip);
  }
}
