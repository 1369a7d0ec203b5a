/**
 * An object key as a case-insensitive JSON decoder sees it. Go's encoding/json (Ollama, LocalAI
 * and other Go model servers) matches keys to fields ignoring letter case, with Unicode simple
 * folding: "Model", "MODEL", "max_to\u212Aens" (Kelvin sign) and "\u017Ftream" (long s) are all
 * read as the lower-case field. Keys equal after this fold are one key for such a server.
 *
 * Lower, upper, lower again: the round trip through upper case joins what lower case alone
 * leaves apart (long s, final sigma, sharp s), so every pair of keys Go treats as equal folds to
 * the same string (checked against unicode.SimpleFold over all code points). It also joins a few
 * pairs Go keeps apart (ligatures, dotless i); those keys are only refused, never let through.
 * Lower-case ASCII keys, nearly all of them, come back unchanged without allocating.
 */
export function foldKey(key: string): string {
  let upper = false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 127) return key.toLowerCase().toUpperCase().toLowerCase();
    if (c >= 65 && c <= 90) upper = true;
  }
  return upper ? key.toLowerCase() : key;
}
