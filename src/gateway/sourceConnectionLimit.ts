import type { Server, Socket } from 'node:net';
import type { Logger } from '../observe/index.js';

/** Refusals are logged at most this often (with their count since the last line), so a flood does not flood the log. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * The source a connection is counted against: its IPv4 address (also when it arrives as an
 * IPv4-mapped IPv6 address on a dual-stack listener), or the /64 prefix of an IPv6 address,
 * since one host or LAN is routinely given a whole /64 and could otherwise open each connection
 * from a fresh address.
 */
export function connectionSource(address: string | undefined): string {
  if (!address) return 'unknown';
  if (!address.includes(':')) return address;
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  const [head = '', tail] = lower.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : Math.max(0, 8 - left.length - right.length);
  const groups = [...left, ...Array<string>(zeros).fill('0'), ...right].slice(0, 4);
  return `${groups.map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Caps the open connections per source at accept ('connection', before any TLS handshake), so one
 * client that opens connections and sends nothing cannot take every slot of maxConnections.
 * Excess sockets are destroyed at once; `maxPerSource` 0 turns the cap off.
 */
export function limitConnectionsPerSource(server: Server, maxPerSource: number, logger: Logger): void {
  if (maxPerSource <= 0) return;
  const open = new Map<string, number>();
  let refused = 0;
  let lastLogAt = 0;
  // First among the listeners: a refused socket is dropped before TLS or node:http take it up.
  server.prependListener('connection', (socket: Socket) => {
    const source = connectionSource(socket.remoteAddress);
    const count = open.get(source) ?? 0;
    if (count >= maxPerSource) {
      socket.destroy();
      refused++;
      const now = Date.now();
      if (now - lastLogAt >= REFUSAL_LOG_INTERVAL_MS) {
        logger.warn({ source, maxConnectionsPerSource: maxPerSource, refused }, 'connections refused: source over gateway.maxConnectionsPerSource');
        lastLogAt = now;
        refused = 0;
      }
      return;
    }
    open.set(source, count + 1);
    socket.once('close', () => {
      const left = (open.get(source) ?? 1) - 1;
      if (left === 0) open.delete(source);
      else open.set(source, left);
    });
  });
}
