import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

export interface LoadOptions {
  url: string;
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Concurrent requests in flight. */
  connections?: number;
  /** Stop after this long… */
  durationMs?: number;
  /** …or after this many requests, whichever comes first (loops are bounded). */
  maxRequests?: number;
  /** Extra CA for https targets. */
  ca?: string;
  /** Target requests/s (open-loop pacing); undefined = as fast as possible. */
  rate?: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time (user + system, all threads) per request of the process under test, when its pid was given. */
  targetCpuUs?: number;
  /** CPU time per request of this load generator (TLS clients cost more than plain ones). */
  loadCpuUs?: number;
}

/** User + system CPU of a process so far, in µs, from /proc (Linux); null elsewhere. */
export function processCpuUs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return null;
  }
}

/**
 * runLoad, plus the CPU per request of the process under test (`pid`) and of the load generator.
 * On a box where load generator, proxy and upstream share the cores, CPU per request is the cost
 * that decides throughput, and it varies less from run to run than req/s.
 */
export async function runLoadWithCpu(o: LoadOptions, pid: number | undefined): Promise<LoadResult> {
  const target0 = pid === undefined ? null : processCpuUs(pid);
  const load0 = process.cpuUsage();
  const result = await runLoad(o);
  const load = process.cpuUsage(load0);
  const target1 = pid === undefined ? null : processCpuUs(pid);
  const n = Math.max(1, result.requests);
  return { ...result, loadCpuUs: (load.user + load.system) / n, ...(target0 !== null && target1 !== null ? { targetCpuUs: (target1 - target0) / n } : {}) };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Closed-loop (or paced) HTTP load on loopback with keep-alive, recording per-request latency. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const connections = o.connections ?? 32;
  const durationMs = o.durationMs ?? 5000;
  const maxRequests = o.maxRequests ?? 1_000_000;
  const pool = new Pool(o.url, { connections, pipelining: 1, connect: o.ca ? { ca: o.ca } : undefined });
  const latencies = new Float64Array(maxRequests);
  let count = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  const interval = o.rate ? (1000 * connections) / o.rate : 0;

  const worker = async (): Promise<void> => {
    let next = performance.now();
    while (performance.now() < deadline && count < maxRequests) {
      if (interval) {
        next += interval;
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const t0 = performance.now();
      try {
        const res = await pool.request({ path: o.path, method: o.method ?? 'GET', headers: o.headers, body: o.body });
        await res.body.dump();
        if (res.statusCode >= 400) errors++;
      } catch {
        errors++;
      }
      if (count < maxRequests) latencies[count++] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  const sorted = latencies.slice(0, count).sort();
  return { requests: count, errors, rps: count / elapsed, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

/** Prints a markdown table; the first row is the baseline and every row gets a ratio against it. */
export function printTable(title: string, rows: { name: string; result: LoadResult }[], baselineIndex = 0): string {
  const base = rows[baselineIndex]!.result;
  const withCpu = rows.some(({ result: r }) => r.loadCpuUs !== undefined);
  const cpu = (r: LoadResult) => (withCpu ? ` ${r.targetCpuUs === undefined ? '–' : r.targetCpuUs.toFixed(0)} | ${r.loadCpuUs === undefined ? '–' : r.loadCpuUs.toFixed(0)} |` : '');
  const lines = [
    `### ${title}`,
    '',
    '| target | requests | errors | req/s | p50 ms | p99 ms | req/s ratio vs ' + rows[baselineIndex]!.name + ' |' + (withCpu ? ' CPU µs/req (target) | CPU µs/req (load generator) |' : ''),
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |' + (withCpu ? ' ---: | ---: |' : ''),
    ...rows.map(({ name, result: r }) => `| ${name} | ${r.requests} | ${r.errors} | ${r.rps.toFixed(0)} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${(r.rps / base.rps).toFixed(2)}× |${cpu(r)}`),
    '',
  ];
  const text = lines.join('\n');
  console.log(text);
  return text;
}
