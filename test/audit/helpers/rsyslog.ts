import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { hasCommand } from '../../helpers/ci.js';

import { freePort } from '../../helpers/net.js';

export { freePort };

export const rsyslogAvailable = hasCommand('rsyslogd') && hasCommand('openssl');


/** Test CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
export function makeTlsFiles(dir: string): { ca: string; cert: string; key: string } {
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=warden audit test CA']);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'san.ext']);
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

export interface Rsyslog {
  port: number;
  output: string;
  proc: ChildProcess;
  stop(): Promise<void>;
  /** Waits until the output file holds at least n lines. */
  waitForLines(n: number, timeoutMs?: number): Promise<string[]>;
}

/**
 * An unprivileged-style rsyslogd with its own config in `dir`, listening on a loopback port
 * (imtcp, octet-counted framing), writing every message's parsed RFC 5424 fields to a file.
 */
export async function startRsyslog(dir: string, tls?: { ca: string; cert: string; key: string }): Promise<Rsyslog> {
  const port = await freePort();
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  const output = join(dir, 'received.log');
  const globalTls = tls
    ? `global(DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="${tls.ca}" DefaultNetstreamDriverCertFile="${tls.cert}" DefaultNetstreamDriverKeyFile="${tls.key}")\n`
    : '';
  const imtcp = tls ? 'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")' : 'module(load="imtcp")';
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    `global(workDirectory="${work}")
${globalTls}${imtcp}
template(name="fields" type="string" string="%pri%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\\n")
ruleset(name="warden") {
  action(type="omfile" file="${output}" template="fields")
}
input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="warden")
`,
  );
  const proc = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`rsyslogd did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    output,
    proc,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
    async waitForLines(n, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const lines = existsSync(output) ? readFileSync(output, 'utf8').split('\n').filter(Boolean) : [];
        if (lines.length >= n) return lines;
        if (Date.now() > end) throw new Error(`rsyslog received ${lines.length} of ${n} messages; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
