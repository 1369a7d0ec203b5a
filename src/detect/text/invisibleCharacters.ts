/**
 * Characters that render as nothing: soft hyphen, combining grapheme joiner, Arabic letter mark,
 * Hangul fillers, Mongolian vowel separator, zero-width space/joiners, bidi marks, embeddings and
 * isolates, word joiner and invisible operators, variation selectors, BOM. One list for every
 * detector: a character the injection scan drops but the PII scan keeps splits a secret unseen.
 * Unicode tag characters (U+E0000–E007F) are invisible too; see TAG_CHARACTERS.
 */
export const INVISIBLE_RANGES: readonly (readonly [number, number])[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x061c, 0x061c],
  [0x115f, 0x1160],
  [0x180e, 0x180e],
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x2064],
  [0x2066, 0x206f],
  [0x3164, 0x3164],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
];

const hex = (c: number): string => `\\u${c.toString(16).padStart(4, '0')}`;

/** Regex character-class body of the invisible BMP characters (without brackets). */
export const INVISIBLE_CLASS = INVISIBLE_RANGES.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join('');

/** Every invisible BMP character (global: for replace). */
export const INVISIBLE_CHARACTERS = new RegExp(`[${INVISIBLE_CLASS}]`, 'g');

/** Unicode tag characters, "ASCII smuggling" (global, unicode: for replace). */
export const TAG_CHARACTERS = /[\u{e0000}-\u{e007f}]/gu;

/** High surrogate of every tag character: U+E0000–E007F is U+DB40 followed by U+DC00–DC7F. */
export const TAG_HIGH_SURROGATE = 0xdb40;

/** Whether the UTF-16 code unit `c` is an invisible BMP character. */
export function isInvisibleCodeUnit(c: number): boolean {
  if (c < 0x00ad) return false;
  for (let i = 0; i < INVISIBLE_RANGES.length; i++) {
    const r = INVISIBLE_RANGES[i]!;
    if (c < r[0]) return false;
    if (c <= r[1]) return true;
  }
  return false;
}

/** Whether the code units at `text[i]`, `text[i + 1]` are a tag character. */
export function isTagAt(text: string, i: number): boolean {
  if (text.charCodeAt(i) !== TAG_HIGH_SURROGATE) return false;
  const low = text.charCodeAt(i + 1);
  return low >= 0xdc00 && low <= 0xdc7f;
}
