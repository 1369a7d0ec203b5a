import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { hostname as osHostname } from 'node:os';
import { WardenError } from '../../errors/index.js';
import type { AuditEntry } from '../AuditQuery.js';
import type { AuditSink } from './AuditSink.js';
import { formatSyslogMessage, frameOctetCounted } from './formatSyslog.js';

export interface SyslogSinkOptions {
  host: string;
  port: number;
  /** RFC 5425 syslog over TLS (1.2+), verifying the server against `ca`. */
  tls?: { ca?: string | Buffer; servername?: string; cert?: string | Buffer; key?: string | Buffer };
  appName?: string;
  hostname?: string;
  sdId?: string;
  connectTimeoutMs?: number;
}

/** Parses `tcp://host:port` or `tls://host:port` (the --syslog flag). */
export function parseSyslogUrl(url: string): { host: string; port: number; tls: boolean } {
  const m = /^(tcp|tls):\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(url);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) throw new WardenError('WARDEN_INPUT_INVALID', 'syslog destination must be tcp://host:port or tls://host:port');
  return { host: m[2]!.replace(/^\[|\]$/g, ''), port, tls: m[1] === 'tls' };
}

/** RFC 5424 messages over TCP (RFC 6587 octet counting) or TLS (RFC 5425). */
export class SyslogSink implements AuditSink {
  readonly name: string;
  private socket: Socket | null = null;
  private failure: Error | null = null;

  constructor(private readonly options: SyslogSinkOptions) {
    this.name = options.tls ? 'syslog-tls' : 'syslog-tcp';
  }

  private connect(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed && !this.failure) return Promise.resolve(this.socket);
    this.failure = null;
    const { host, port, tls } = this.options;
    return new Promise<Socket>((resolve, reject) => {
      const timeout = this.options.connectTimeoutMs ?? 5000;
      const socket: Socket = tls
        ? tlsConnect({ host, port, ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername ?? (/^[\d.:]+$/.test(host) ? undefined : host), minVersion: 'TLSv1.2' })
        : netConnect({ host, port });
      const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${timeout} ms`)), timeout);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.on('error', (e) => (this.failure = e));
        this.socket = socket;
        resolve(socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new WardenError('WARDEN_AUDIT_SINK_FAILED', `cannot connect to syslog ${host}:${port}: ${e.message}`, { cause: e }));
      });
    });
  }

  async send(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const socket = await this.connect();
    const opts = { hostname: this.options.hostname ?? osHostname(), appName: this.options.appName ?? 'warden', procId: String(process.pid), sdId: this.options.sdId };
    const data = Buffer.concat(entries.map((e) => frameOctetCounted(formatSyslogMessage(e, opts))));
    await new Promise<void>((resolve, reject) => {
      socket.write(data, (err) => (err ? reject(new WardenError('WARDEN_AUDIT_SINK_FAILED', `syslog write failed: ${err.message}`, { cause: err })) : resolve()));
    });
    if (this.failure) throw new WardenError('WARDEN_AUDIT_SINK_FAILED', `syslog connection failed: ${this.failure.message}`, { cause: this.failure });
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = null;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.end();
      setTimeout(() => {
        s.destroy();
        resolve();
      }, 2000).unref();
    });
  }
}
