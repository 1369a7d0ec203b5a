import { isIPv6 } from 'node:net';
import { isValidIBAN } from 'ibantools';
import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { luhnValid, plausibleCardPrefix, ssnValid, shannonEntropy } from './checksums.js';

export type SensitiveCategory = 'pii' | 'secret';

export interface SensitiveFinding {
  kind: string;
  category: SensitiveCategory;
  start: number;
  end: number;
}

export interface FindOptions {
  /** Recognizer kinds to run; empty or undefined means all. */
  kinds?: readonly string[];
  pii?: boolean;
  secrets?: boolean;
  entropyBitsPerChar?: number;
  minTokenLength?: number;
}

interface Recognizer {
  kind: string;
  category: SensitiveCategory;
  pattern: RegExp;
  /** Checksum / rule validation of a candidate; a candidate that fails is not a finding. */
  validate?: (m: RegExpExecArray, options: FindOptions) => boolean;
}

function decodesToJson(part: string): boolean {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

/**
 * Recognizers, most specific first: an overlapping later finding is dropped, so a JWT is reported
 * as a JWT and not also as a high-entropy token.
 */
export const recognizers: Recognizer[] = [
  {
    kind: 'private_key',
    category: 'secret',
    pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g,
  },
  { kind: 'aws_access_key', category: 'secret', pattern: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b/g },
  { kind: 'aws_secret_key', category: 'secret', pattern: /\baws_?secret_?access_?key\b["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/gi },
  { kind: 'gcp_api_key', category: 'secret', pattern: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g },
  { kind: 'github_token', category: 'secret', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g },
  { kind: 'slack_token', category: 'secret', pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,250}\b/g },
  { kind: 'stripe_key', category: 'secret', pattern: /\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,247}\b/g },
  { kind: 'openai_key', category: 'secret', pattern: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/g },
  { kind: 'azure_storage_key', category: 'secret', pattern: /\bAccountKey=[A-Za-z0-9+/]{86}==/g },
  {
    kind: 'jwt',
    category: 'secret',
    pattern: /\beyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,16384}\.[A-Za-z0-9_-]{16,2048}(?![A-Za-z0-9_-])/g,
    validate: (m) => {
      const [h, p] = m[0].split('.');
      return decodesToJson(h!) && decodesToJson(p!);
    },
  },
  {
    kind: 'password_assignment',
    category: 'secret',
    pattern: /\b(?:password|passwd|pwd|secret|api_?key|access_?token|auth_?token|client_?secret)\b["']?\s*[:=]\s*["']?[^\s"',;]{8,200}/gi,
  },
  {
    kind: 'iban',
    category: 'pii',
    pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g,
    validate: (m) => isValidIBAN(m[0].replace(/ /g, '')),
  },
  {
    kind: 'credit_card',
    category: 'pii',
    pattern: /(?<![\w-])(?:\d[ -]?){11,18}\d(?![\w-])/g,
    validate: (m) => {
      const digits = m[0].replace(/[ -]/g, '');
      // Separators, when used, must be consistent (4-4-4-4, 4-6-5): rejects dates, phone numbers.
      const seps = m[0].match(/[ -]/g);
      if (seps && new Set(seps).size > 1) return false;
      return digits.length >= 12 && digits.length <= 19 && plausibleCardPrefix(digits) && luhnValid(digits);
    },
  },
  {
    kind: 'us_ssn',
    category: 'pii',
    pattern: /(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])/g,
    validate: (m) => ssnValid(m[1]!, m[3]!, m[4]!),
  },
  { kind: 'email', category: 'pii', pattern: /\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}\b/g },
  {
    kind: 'phone',
    category: 'pii',
    pattern: /(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?![\w])/g,
    validate: (m) => {
      const s = m[0];
      const digits = s.replace(/\D/g, '');
      if (digits.length < 8 || digits.length > 15) return false;
      // Bare digit runs without + or separators are more often ids, amounts or years than phones.
      if (!s.startsWith('+') && !/[ .()-]/.test(s)) return false;
      return s.startsWith('+') ? isValidPhoneNumber(s) : isValidPhoneNumber(s, 'US');
    },
  },
  {
    kind: 'ip_address',
    category: 'pii',
    pattern: /(?<![\d.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![\d.])/g,
  },
  {
    kind: 'ip_address',
    category: 'pii',
    pattern: /(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])/g,
    validate: (m) => isIPv6(m[0]) && m[0].split(':').length >= 3,
  },
  {
    kind: 'high_entropy_token',
    category: 'secret',
    pattern: /(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{16,512}={0,2}(?![A-Za-z0-9+/_=-])/g,
    validate: (m, o) => {
      const s = m[0];
      if (s.length < (o.minTokenLength ?? 32)) return false;
      // Secrets mix letters and digits; prose words, paths and hex digests do not clear the entropy bar.
      if (!/[0-9]/.test(s) || !/[a-z]/.test(s) || !/[A-Z]/.test(s)) return false;
      return shannonEntropy(s) >= (o.entropyBitsPerChar ?? 4.0);
    },
  },
];

export const recognizerKinds: readonly string[] = [...new Set(recognizers.map((r) => r.kind))];

/**
 * Finds personal data and secrets in `text`. Findings carry offsets and kinds only; callers
 * redact or count them and never log the matched value.
 */
export function findSensitive(text: string, options: FindOptions = {}): SensitiveFinding[] {
  const out: SensitiveFinding[] = [];
  const kinds = options.kinds && options.kinds.length > 0 ? new Set(options.kinds) : undefined;
  for (const r of recognizers) {
    if (kinds && !kinds.has(r.kind)) continue;
    if (r.category === 'pii' && options.pii === false) continue;
    if (r.category === 'secret' && options.secrets === false) continue;
    r.pattern.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = r.pattern.exec(text)) !== null) {
      if (m[0].length === 0) {
        r.pattern.lastIndex++;
        continue;
      }
      const start = m.index;
      const end = start + m[0].length;
      if (overlaps(out, start, end)) continue;
      if (r.validate && !r.validate(m, options)) continue;
      out.push({ kind: r.kind, category: r.category, start, end });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

function overlaps(found: readonly SensitiveFinding[], start: number, end: number): boolean {
  for (const f of found) if (start < f.end && end > f.start) return true;
  return false;
}
