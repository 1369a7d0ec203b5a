import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { WardenError } from '../errors/index.js';
import { BUILTIN_RUNBOOKS } from './builtinRunbooks.js';
import { parseRunbook, type Runbook } from './Runbook.js';

/** Built-in runbooks plus *.yaml from the configured directories (a file overrides a built-in of the same name). */
export class RunbookLibrary {
  private readonly runbooks = new Map<string, { runbook: Runbook; source: string }>();

  constructor(options: { dataDir: string; dirs: string[] }) {
    for (const [name, text] of Object.entries(BUILTIN_RUNBOOKS)) this.runbooks.set(name, { runbook: parseRunbook(text, `built-in ${name}`), source: 'built-in' });
    for (const dir of options.dirs) {
      const abs = isAbsolute(dir) ? dir : join(options.dataDir, dir);
      let names: string[];
      try {
        names = readdirSync(abs).filter((n) => /\.ya?ml$/.test(n)).sort();
      } catch (cause) {
        throw new WardenError('WARDEN_RESPOND_RUNBOOK_INVALID', `runbook directory ${abs} cannot be read`, { cause });
      }
      for (const n of names) {
        const file = join(abs, n);
        if (!statSync(file).isFile()) continue;
        const runbook = parseRunbook(readFileSync(file, 'utf8'), file);
        this.runbooks.set(runbook.name, { runbook, source: file });
      }
    }
  }

  get(name: string): Runbook {
    const r = this.runbooks.get(name);
    if (!r) throw new WardenError('WARDEN_RESPOND_RUNBOOK_NOT_FOUND', `no runbook ${JSON.stringify(name)}`);
    return r.runbook;
  }

  has(name: string): boolean {
    return this.runbooks.has(name);
  }

  list(): { name: string; description: string; source: string; steps: string[] }[] {
    return [...this.runbooks.values()].map(({ runbook, source }) => ({ name: runbook.name, description: runbook.description, source, steps: runbook.steps.map((s) => s.action) }));
  }
}
