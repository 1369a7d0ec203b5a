/**
 * Decision latency of the compiled Cedar evaluator vs cedar-wasm `statefulIsAuthorized`
 * (the baseline, measured in the same run) at 10, 1,000 and 10,000 policies.
 * Usage: node --import tsx bench/policy.ts [--quick]
 * Loops are bounded in count and time; nothing leaves the process.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cedarWasm } from '../src/policy/cedarWasm.js';
import { CachingAuthorizer, compilePolicySet, requestEntitiesJson, type AuthzRequest, type CedarEntityJson, type CompiledPolicySet } from '../src/policy/index.js';

const quick = process.argv.includes('--quick');
const SIZES = [10, 1_000, 10_000];
const sizeArg = process.argv.indexOf('--size');
/** Each size runs in its own process so one size's garbage and JIT state do not bill the next. */
const onlySize = sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : undefined;
const COMPILED_MAX = { count: quick ? 50_000 : 300_000, ms: quick ? 1_000 : 3_000 };
const WASM_MAX = { count: quick ? 1_000 : 5_000, ms: quick ? 1_500 : 4_000 };

/** Deterministic PRNG so every run measures the same workload. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Workload {
  text: string;
  entities: CedarEntityJson[];
  requests: AuthzRequest[];
}

/** A realistic shape: per-key grants, team grants through groups, a few global forbids. */
function workload(n: number): Workload {
  const r = rng(n);
  const models = Math.max(4, Math.floor(n / 50));
  const teams = Math.max(2, Math.floor(n / 100));
  const keys = Math.max(4, Math.floor(n * 0.8));
  const policies: string[] = [
    '@id("no-restricted") forbid(principal, action, resource) when { context.classification == "restricted" };',
    '@id("no-contractors-prod") forbid(principal in Group::"contractors", action, resource in Environment::"prod");',
  ];
  for (let i = 0; policies.length < n; i++) {
    if (i % 5 === 4) {
      // Spread over all teams (about 20 grants each) and tenants.
      const t = Math.floor(i / 5) % teams;
      policies.push(`@id("team-${i}") permit(principal in Group::"team-${t}", action in [Action::"invoke", Action::"readFeature"], resource in Tenant::"tenant-${Math.floor(i / 5 / teams) % 8}") when { context.mfa && context.sourceIp.isInRange(ip("10.0.0.0/8")) };`);
    } else {
      policies.push(`@id("key-${i}") permit(principal == ApiKey::"key-${i % keys}", action == Action::"invoke", resource == Model::"model-${i % models}") when { context.region like "eu-*" };`);
    }
  }
  const entities: CedarEntityJson[] = [{ uid: { type: 'Environment', id: 'prod' }, attrs: {}, parents: [] }];
  for (let t = 0; t < 8; t++) entities.push({ uid: { type: 'Tenant', id: `tenant-${t}` }, attrs: {}, parents: [] });
  for (let m = 0; m < models; m++) entities.push({ uid: { type: 'Model', id: `model-${m}` }, attrs: { classification: 'internal' }, parents: [{ type: 'Tenant', id: `tenant-${m % 8}` }, ...(m % 3 === 0 ? [{ type: 'Environment', id: 'prod' }] : [])] });
  for (let t = 0; t < teams; t++) entities.push({ uid: { type: 'Group', id: `team-${t}` }, attrs: {}, parents: [] });
  const requests: AuthzRequest[] = [];
  for (let i = 0; i < 512; i++) {
    const team = Math.floor(r() * teams);
    const byGroup = r() < 0.3;
    // Half the key requests ask for a model their key was granted, so allows and denies both occur.
    const grant = Math.floor(r() * (n - 2));
    const granted = grant % 5 !== 4 && r() < 0.6;
    requests.push({
      principal: byGroup ? { type: 'User', id: `user-${i}` } : { type: 'ApiKey', id: `key-${granted ? grant % keys : Math.floor(r() * keys)}` },
      principalParents: byGroup ? [{ type: 'Group', id: `team-${team}` }, ...(r() < 0.1 ? [{ type: 'Group', id: 'contractors' }] : [])] : undefined,
      action: { type: 'Action', id: 'invoke' },
      resource: { type: 'Model', id: `model-${!byGroup && granted ? grant % models : Math.floor(r() * models)}` },
      context: {
        region: r() < 0.8 ? 'eu-west-1' : 'us-east-1',
        classification: r() < 0.05 ? 'restricted' : 'internal',
        mfa: r() < 0.7,
        sourceIp: { __extn: { fn: 'ip', arg: r() < 0.8 ? '10.1.2.3' : '203.0.113.9' } },
        time: 1_767_225_600 + i,
      },
    });
  }
  return { text: policies.join('\n'), entities, requests };
}

interface Measured {
  /** CPU time per decision (user+system): robust to other processes on a shared machine. */
  cpu: number;
  p50: number;
  p99: number;
  perSecond: number;
  allows: number;
  decisions: number;
}

/** Per-call latency (hrtime around each call) and, separately, throughput without timers. */
function measure(requests: AuthzRequest[], max: { count: number; ms: number }, decide: (r: AuthzRequest) => { decision: string }): Measured {
  // Start from a collected heap (compiling leaves garbage that would be billed to the first measurement).
  (globalThis as { gc?: () => void }).gc?.();
  const warm = performance.now() + max.ms / 4;
  for (let i = 0; i < Math.min(2_000, max.count) && performance.now() < warm; i++) decide(requests[i % requests.length]!);
  const lat = new Float64Array(max.count);
  let n = 0;
  let allows = 0;
  const deadline = performance.now() + max.ms;
  while (n < max.count && (n % 256 !== 0 || performance.now() < deadline)) {
    const req = requests[n % requests.length]!;
    const t0 = process.hrtime.bigint();
    const d = decide(req);
    lat[n++] = Number(process.hrtime.bigint() - t0) / 1000;
    if (d.decision === 'allow') allows++;
  }
  const sorted = lat.subarray(0, n).sort();
  let m = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + max.ms / 2;
  while (m < max.count && (m % 256 !== 0 || performance.now() < end)) decide(requests[m++ % requests.length]!);
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { cpu: (cpu.user + cpu.system) / m, p50: sorted[Math.floor(n * 0.5)]!, p99: sorted[Math.floor(n * 0.99)]!, perSecond: m / elapsed, allows, decisions: n };
}

function wasmDecider(set: CompiledPolicySet, id: string): (r: AuthzRequest) => { decision: string } {
  const pre = cedarWasm.preparsePolicySet(id, { staticPolicies: Object.fromEntries(set.policies.map((p) => [p.id, p.text])) });
  if (pre.type === 'failure') throw new Error(pre.errors[0]?.message);
  // Entities are per request in the stateful API; precompute them so only the wasm call is timed.
  const cache = new Map<AuthzRequest, CedarEntityJson[]>();
  return (r) => {
    let entities = cache.get(r);
    if (!entities) cache.set(r, (entities = requestEntitiesJson(set.entitiesJson, r)));
    const a = cedarWasm.statefulIsAuthorized({ principal: r.principal, action: r.action, resource: r.resource, context: r.context as Record<string, never>, preparsedPolicySetId: id, entities: entities as never });
    if (a.type !== 'success') throw new Error(a.errors[0]?.message);
    return a.response;
  };
}

const fmt = (x: number, d = 2): string => x.toFixed(d);
function runSize(n: number): string[][] {
  const rows: string[][] = [];
  const w = workload(n);
  const t0 = performance.now();
  const set = compilePolicySet(w.text, { entities: w.entities });
  const compileMs = performance.now() - t0;
  if (set.fallback) throw new Error(`bench set fell back: ${set.fallbackReasons.join('; ')}`);
  const wasm = wasmDecider(set, `bench-${n}`);
  let mismatches = 0;
  // Both evaluators must agree on the workload (a sample at large sizes: cedar-wasm is slow there).
  for (const r of w.requests.slice(0, n >= 10_000 ? 32 : n >= 1_000 ? 128 : 512)) {
    const a = set.authorize(r);
    const b = wasm(r);
    if (a.decision !== b.decision) mismatches++;
  }
  if (mismatches) throw new Error(`${mismatches} decisions differ between evaluators at ${n} policies`);
  const compiled = measure(w.requests, COMPILED_MAX, (r) => set.authorize(r));
  const cache = new CachingAuthorizer(set, { maxEntries: 10_000 });
  const cached = measure(w.requests, COMPILED_MAX, (r) => cache.authorize(r));
  const reference = measure(w.requests, WASM_MAX, wasm);
  rows.push([String(n), 'compiled (Warden)', fmt(compiled.p50), fmt(compiled.p99), fmt(compiled.cpu), Math.round(compiled.perSecond).toLocaleString('en-US'), `${fmt(reference.p99 / compiled.p99, 0)}× p99, ${fmt(reference.cpu / compiled.cpu, 0)}× cpu`, `${fmt(compileMs, 0)} ms compile`]);
  rows.push([String(n), 'compiled + decision cache (hits)', fmt(cached.p50), fmt(cached.p99), fmt(cached.cpu), Math.round(cached.perSecond).toLocaleString('en-US'), `${fmt(reference.p99 / cached.p99, 0)}× p99, ${fmt(reference.cpu / cached.cpu, 0)}× cpu`, '']);
  rows.push([String(n), 'cedar-wasm statefulIsAuthorized (baseline)', fmt(reference.p50), fmt(reference.p99), fmt(reference.cpu), Math.round(reference.perSecond).toLocaleString('en-US'), '1×', `${Math.round((compiled.allows / compiled.decisions) * 100)}% allow`]);
  return rows;
}

if (onlySize !== undefined) {
  process.stdout.write(JSON.stringify(runSize(onlySize)) + '\n');
  process.exit(0);
}
const rows: string[][] = [];
for (const n of SIZES) {
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--size', String(n), ...(quick ? ['--quick'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  if (child.status !== 0) throw new Error(`bench for ${n} policies failed (exit ${child.status})`);
  rows.push(...(JSON.parse(child.stdout.trim().split('\n').pop()!) as string[][]));
}
const headers = ['policies', 'evaluator', 'p50 µs', 'p99 µs', 'CPU µs/decision', 'decisions/s', 'speed-up vs cedar-wasm', 'notes'];
const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(line(headers));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
console.log(`\nload average during the run: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores (p99 is wall-clock per call: it includes preemption by other processes)`);
