import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openAuditLog, verifyAuditLog, FileAuditReader, fileAuditLayout, readVerifierKeys, readAuditRecords } from '../../src/audit/index.js';
import { auditConfig, tempDir } from './helpers/fixtures.js';

const writer = fileURLToPath(new URL('./helpers/crashWriter.ts', import.meta.url));

/** Deterministic kill delays (LCG), so every run of the test kills at the same offsets. */
function delays(n: number, seed = 7): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 100 + (x % 200);
  });
}

interface Writer {
  child: ChildProcess;
  ready: Promise<void>;
  stderr: () => string;
}

function spawnWriter(dataDir: string, run: number): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', writer, dataDir, String(run)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => (line === 'ready' ? resolve() : reject(new Error(`unexpected first line ${line}`))));
    child.once('exit', () => reject(new Error(`writer exited before it was ready: ${stderr}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, stderr: () => stderr };
}

/** Lets a ready writer append, SIGKILLs it `killAfterMs` after its first acknowledgement; returns the highest acknowledged seq. */
async function runAndKill(w: Writer, killAfterMs: number): Promise<number> {
  const { child } = w;
  let maxAck = -1;
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
  const killed = new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    let timer: NodeJS.Timeout | null = null;
    rl.on('line', (line) => {
      if (line === 'ready') return;
      maxAck = Math.max(maxAck, Number(line));
      // Start the kill clock once the writer is up and acknowledging.
      timer ??= setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, killAfterMs);
    });
    child.once('exit', () => (timer ? resolve() : reject(new Error(`writer exited before acknowledging anything: ${w.stderr()}`))));
  });
  child.stdin!.write('go\n');
  await killed;
  assert.equal(await exited, 'SIGKILL', w.stderr());
  return maxAck;
}

test('every acknowledged record survives repeated SIGKILL and the log verifies', async (t) => {
  const dir = tempDir(t, 'warden-audit-crash-');
  const acked: number[] = [];
  const kills = delays(3);
  let next = spawnWriter(dir, 0);
  t.after(() => next.child.kill('SIGKILL'));
  for (const [run, ms] of kills.entries()) {
    const current = next;
    await current.ready;
    if (run + 1 < kills.length) next = spawnWriter(dir, run + 1);
    acked.push(await runAndKill(current, ms));
  }
  assert.ok(acked.every((n) => n > 0), `each writer acknowledged records: ${acked}`);

  // Restart: recovery truncates torn tails, takes over the dead writer's lock, and verifies.
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  await log.close();
  const report = await verifyAuditLog(new FileAuditReader(fileAuditLayout(dir)), { verifiers: readVerifierKeys({ dataDir: dir }) });
  assert.equal(report.ok, true, JSON.stringify(report.errors));
  assert.equal(report.uncheckpointed, 0);

  const seen = new Map<string, Set<number>>();
  for (const r of await readAuditRecords(dir)) {
    const [run, seq] = r.requestId!.split(':') as [string, string];
    if (!seen.has(run)) seen.set(run, new Set());
    seen.get(run)!.add(Number(seq));
  }
  for (const [run, max] of acked.entries()) {
    const got = seen.get(String(run)) ?? new Set<number>();
    for (let s = 0; s <= max; s++) assert.ok(got.has(s), `run ${run}: acknowledged record ${s} (of ${max}) is present`);
  }
  assert.equal(report.size, [...seen.values()].reduce((n, s) => n + s.size, 0), 'no duplicate or foreign entries');
});
