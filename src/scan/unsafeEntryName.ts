/** Why an archive member name is unsafe to extract, or null. */
export function unsafeEntryName(name: string): string | null {
  if (name.includes('\0')) return 'contains a NUL byte';
  if (/^([a-zA-Z]:|[\\/])/.test(name)) return 'is an absolute path';
  let depth = 0;
  for (const seg of name.split(/[\\/]+/)) {
    if (seg === '..') depth--;
    else if (seg !== '.' && seg !== '') depth++;
    if (depth < 0) return 'climbs out of the extraction directory with ..';
  }
  return null;
}
