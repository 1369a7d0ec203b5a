/**
 * NumPy's dtype spellings, shared by the `.npy` header check and the pickle scanner's joblib array
 * skip, so the two read a dtype alike.
 */

/** A simple dtype descr: `[byte order]<type code>[size][[unit]]` (`<f8`, `|b1`, `<M8[ns]`). */
export const SIMPLE_DESCR = /^[<>|=]?([a-zA-Z?])(\d*)(\[[a-zA-Z0-9]+\])?$/;

/** Item sizes of the one-letter type codes that are the same on every platform. */
export const FIXED_CODE_SIZES: Readonly<Record<string, number>> = {
  '?': 1, b: 1, B: 1, h: 2, H: 2, i: 4, I: 4, q: 8, Q: 8, e: 2, f: 4, d: 8, F: 8, D: 16,
};

/** Item sizes of the codes that depend on the platform (long, pointer, long double): a 64-bit Linux build's. */
export const PLATFORM_CODE_SIZES: Readonly<Record<string, number>> = { l: 8, L: 8, p: 8, P: 8, g: 16, G: 32 };
