import { remove as removeConfusables } from 'confusables';
import { INVISIBLE_CHARACTERS as INVISIBLE, TAG_CHARACTERS as TAGS } from './invisibleCharacters.js';

export interface NormalizedText {
  /** Lower-case, NFKC, confusables folded to Latin, invisible characters removed, whitespace collapsed. */
  text: string;
  /** Zero-width, bidi-control and other invisible format characters that were removed. */
  invisible: number;
  /** Unicode tag characters (U+E0000–E007F, "ASCII smuggling"), decoded into the text. */
  tags: number;
}

// The confusables table folds capital-I look-alikes to "l"; after lower-casing they must read "i".
const I_LIKE = /[\u0399\u03b9\u0406\u0456\u04c0\u04cf\u13a5\u026a\u1fbe\u2160\u2170\uff29\uff49]/g;
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };
// A word that mixes letters with leetspeak digits/symbols, e.g. "1gn0re" or "pr3vious".
const LEET_WORD = /\b(?=[a-z0-9@$]*[a-z])(?=[a-z0-9@$]*[013457@$])[a-z0-9@$]{3,}\b/g;
// Letters spaced out to dodge word patterns: "i g n o r e" or "i.g.n.o.r.e".
const SPACED = /\b(?:[a-z][ ._*\-]){3,}[a-z]\b/g;
// Cheap pre-checks so the rewriting passes run only on text that can need them.
const SPACED_HINT = /\b[a-z][ ._*\-][a-z][ ._*\-][a-z][ ._*\-][a-z]\b/;
// A leet character with a letter before or after it. Written to start at the (rare) leet character:
// `[a-z][013457@$]|…` tries a branch at every letter.
const LEET_HINT = /[013457@$](?:(?<=[a-z][013457@$])|(?=[a-z]))/;

/**
 * Canonical form used for pattern matching only (never shown or logged): attackers hide
 * instructions with homoglyphs, full-width forms, zero-width characters and tag characters.
 */
export function normalizeText(input: string): NormalizedText {
  let text = input;
  let tags = 0;
  let invisible = 0;
  // ASCII-only text (the common case) skips the Unicode passes.
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(text)) {
    if (/[\u{e0000}-\u{e007f}]/u.test(text)) {
      text = text.replace(TAGS, (c) => {
        tags++;
        const cp = c.codePointAt(0)! - 0xe0000;
        return cp >= 0x20 && cp < 0x7f ? String.fromCharCode(cp) : '';
      });
    }
    text = text.replace(INVISIBLE, () => {
      invisible++;
      return '';
    });
    text = removeConfusables(text.normalize('NFKC').replace(I_LIKE, 'i'));
  }
  text = text.toLowerCase();
  if (SPACED_HINT.test(text)) text = text.replace(SPACED, (m) => m.replace(/[ ._*\-]/g, ''));
  if (LEET_HINT.test(text)) text = text.replace(LEET_WORD, (m) => (/^\d+$/.test(m.replace(/[@$]/g, '')) ? m : m.replace(/[013457@$]/g, (c) => LEET[c]!)));
  // Each whitespace run becomes one space. Runs that already are one space are left unmatched
  // (same result, far fewer replacements on prose with line breaks). Any other lone whitespace
  // (U+2028, U+1680…) is replaced too: patterns match words separated by spaces.
  if (/\s\s|[^\S ]/.test(text)) text = text.replace(/\s{2,}|[^\S ]/g, ' ');
  return { text, invisible, tags };
}
