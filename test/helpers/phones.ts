/** `count` distinct US numbers in +1 (AAA) BBB-CCCC form, different from every other call's (the PII memo would hide repeats). */
let nextPhone = Math.floor(Math.random() * 1e6);
export function phones(count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = nextPhone++;
    out.push(`+1 (${200 + (n % 700)}) ${String(200 + ((n >> 3) % 700))}-${String(1000 + ((n * 7919) % 9000))}`);
  }
  return out.join(' ');
}
