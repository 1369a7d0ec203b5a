import { errorCodes } from './codes.js';
import { coreCodes } from './codes/core.js';

/**
 * Markdown reference of every error code, grouped by area (the second word of the code). The
 * general codes of codes/core.ts form one GENERAL group: WARDEN_NOT_FOUND or WARDEN_INPUT_INVALID
 * have no area, and splitting them would invent areas NOT and INPUT.
 */
export function renderErrorsDoc(): string {
  const byArea = new Map<string, [string, { status: number; description: string }][]>();
  for (const [code, info] of Object.entries(errorCodes) as [string, { status: number; description: string }][]) {
    const key = Object.hasOwn(coreCodes, code) ? 'GENERAL' : code.split('_')[1]!;
    byArea.set(key, [...(byArea.get(key) ?? []), [code, info]]);
  }
  const lines = [
    '# Error codes',
    '',
    'Every failure Warden reports carries a stable code `WARDEN_<AREA>_<REASON>`: in HTTP error bodies',
    '(`{ "error": { "code", "message", "requestId" } }`; the gateway adds OpenAI\'s `type` and `param`, see',
    '[gateway-auth-and-limits.md](gateway-auth-and-limits.md#error-bodies-methods-and-the-model-list)), on the CLI (one `CODE: message` line on stderr, exit 2)',
    'and in audit records. Messages never contain credentials. This file is generated from',
    '`src/errors/codes/*.ts` by `npm run docs:errors`; a test fails when it is out of date.',
    '',
  ];
  for (const area of [...byArea.keys()].sort((a, b) => (a === 'GENERAL' ? -1 : b === 'GENERAL' ? 1 : a.localeCompare(b)))) {
    lines.push(`## ${area}`, '', '| code | HTTP | meaning |', '| --- | --- | --- |');
    for (const [code, info] of byArea.get(area)!.sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`| \`${code}\` | ${info.status} | ${info.description.replace(/\|/g, '\\|')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
