/** Generators of valid and invalid-checksum identifiers (shared by test/detect and bench/guards.ts). */
import { composeIBAN, isValidIBAN } from 'ibantools';
import { mulberry32 } from './extractionLab.js';

function digits(rnd: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(rnd() * 10);
  return s;
}

function luhnCheckDigit(body: string): number {
  let sum = 0;
  let double = true;
  for (let i = body.length - 1; i >= 0; i--) {
    let d = body.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return (10 - (sum % 10)) % 10;
}

const CARD_PREFIXES: [string, number][] = [
  ['4', 16],
  ['4', 13],
  ['51', 16],
  ['55', 16],
  ['2221', 16],
  ['2720', 16],
  ['34', 15],
  ['37', 15],
  ['6011', 16],
  ['65', 16],
  ['3530', 16],
  ['36', 14],
  ['62', 16],
];

function formatCard(num: string, style: number): string {
  if (style === 0) return num;
  const sep = style === 1 ? ' ' : '-';
  if (num.length === 15) return [num.slice(0, 4), num.slice(4, 10), num.slice(10)].join(sep);
  return num.match(/.{1,4}/g)!.join(sep);
}

export interface GeneratedValue {
  kind: string;
  value: string;
}

export function generateCards(n: number, seed: number): { valid: GeneratedValue[]; invalid: GeneratedValue[] } {
  const rnd = mulberry32(seed);
  const valid: GeneratedValue[] = [];
  const invalid: GeneratedValue[] = [];
  for (let i = 0; i < n; i++) {
    const [prefix, len] = CARD_PREFIXES[i % CARD_PREFIXES.length]!;
    const body = prefix + digits(rnd, len - prefix.length - 1);
    const check = luhnCheckDigit(body);
    const wrong = (check + 1 + Math.floor(rnd() * 9)) % 10;
    const style = i % 3;
    valid.push({ kind: 'credit_card', value: formatCard(body + check, style) });
    invalid.push({ kind: 'credit_card', value: formatCard(body + wrong, style) });
  }
  return { valid, invalid };
}

const IBAN_COUNTRIES: [string, (rnd: () => number) => string][] = [
  ['DE', (r) => digits(r, 18)],
  ['GB', (r) => 'NWBK' + digits(r, 14)],
  ['NL', (r) => 'ABNA' + digits(r, 10)],
  ['CH', (r) => digits(r, 17)],
  ['AT', (r) => digits(r, 16)],
  ['PL', (r) => digits(r, 24)],
];

export function generateIbans(n: number, seed: number): { valid: GeneratedValue[]; invalid: GeneratedValue[] } {
  const rnd = mulberry32(seed);
  const valid: GeneratedValue[] = [];
  const invalid: GeneratedValue[] = [];
  let attempts = 0;
  while (valid.length < n && attempts++ < n * 50) {
    const [cc, bban] = IBAN_COUNTRIES[valid.length % IBAN_COUNTRIES.length]!;
    const iban = composeIBAN({ countryCode: cc, bban: bban(rnd) });
    if (!iban || !isValidIBAN(iban)) continue;
    const check = Number(iban.slice(2, 4));
    const wrongCheck = String(((check + 1 + Math.floor(rnd() * 90)) % 97) + 2).padStart(2, '0');
    const bad = iban.slice(0, 2) + wrongCheck + iban.slice(4);
    if (isValidIBAN(bad)) continue;
    const spaced = (s: string): string => (valid.length % 2 === 0 ? s : s.match(/.{1,4}/g)!.join(' '));
    valid.push({ kind: 'iban', value: spaced(iban) });
    invalid.push({ kind: 'iban', value: spaced(bad) });
  }
  return { valid, invalid };
}

export function generateSsns(n: number, seed: number): { valid: GeneratedValue[]; invalid: GeneratedValue[] } {
  const rnd = mulberry32(seed);
  const valid: GeneratedValue[] = [];
  const invalid: GeneratedValue[] = [];
  const pad = (v: number, w: number): string => String(v).padStart(w, '0');
  for (let i = 0; i < n; i++) {
    let area = 1 + Math.floor(rnd() * 899);
    if (area === 666) area = 665;
    const group = 1 + Math.floor(rnd() * 99);
    const serial = 1 + Math.floor(rnd() * 9999);
    valid.push({ kind: 'us_ssn', value: `${pad(area, 3)}-${pad(group, 2)}-${pad(serial, 4)}` });
    const broken = i % 4;
    const badArea = broken === 0 ? 0 : broken === 1 ? 666 : 900 + Math.floor(rnd() * 100);
    invalid.push({
      kind: 'us_ssn',
      value: broken === 3 ? `${pad(area, 3)}-00-${pad(serial, 4)}` : `${pad(badArea, 3)}-${pad(group, 2)}-${pad(serial, 4)}`,
    });
    if (i % 5 === 0) invalid.push({ kind: 'us_ssn', value: `${pad(area, 3)}-${pad(group, 2)}-0000` });
  }
  return { valid, invalid };
}

export function generateSecrets(seed: number): GeneratedValue[] {
  const rnd = mulberry32(seed);
  const alnum = (n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string =>
    Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
  const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return [
    { kind: 'aws_access_key', value: 'AKIA' + alnum(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567') },
    { kind: 'aws_access_key', value: 'ASIA' + alnum(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567') },
    { kind: 'gcp_api_key', value: 'AIza' + alnum(35) },
    { kind: 'github_token', value: 'ghp_' + alnum(36) },
    { kind: 'github_token', value: 'github_pat_' + alnum(82) },
    { kind: 'slack_token', value: 'xoxb-' + alnum(12, '0123456789') + '-' + alnum(24) },
    { kind: 'stripe_key', value: 'sk_live_' + alnum(24) },
    { kind: 'openai_key', value: 'sk-proj-' + alnum(48) },
    { kind: 'jwt', value: `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ sub: 'user-' + alnum(6), exp: 1900000000 })}.${alnum(43)}` },
    { kind: 'high_entropy_token', value: alnum(40) + '9aZ' },
    { kind: 'password_assignment', value: 'password=' + alnum(14) },
  ];
}
