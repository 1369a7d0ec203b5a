import { envNameFor } from '../config/index.js';
import { WardenError } from '../errors/index.js';

/** Which listener failed to start and how an operator moves it (CLI flag, warden.yaml key, variable). */
export interface ListenerSettings {
  /** "gateway" or "admin API": what the operator sees in `warden up`'s output. */
  listener: string;
  host: string;
  port: number;
  /** e.g. "--port-gateway N (warden up)"; the config key and variable are added from portKey. */
  portFlag: string;
  /** warden.yaml key of the port, e.g. "gateway.port"; the host key is its sibling. */
  portKey: `${string}.port`;
}

const envName = (key: string): string => envNameFor(key.split('.'));

/**
 * A listen() failure the operator can fix (port taken, privileged port, address not local)
 * becomes WARDEN_CONFIG_LISTEN_FAILED naming what to change; anything else is passed on as is,
 * so a real internal error still reads as one.
 */
export function listenError(err: unknown, s: ListenerSettings): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const where = `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
  const portHint = `choose another port with ${s.portFlag}, ${s.portKey} in warden.yaml or ${envName(s.portKey)} (0 picks a free port)`;
  const hostKey = s.portKey.replace(/\.port$/, '.host');
  let reason: string;
  if (code === 'EADDRINUSE') reason = `the address is already in use (another process, or a second \`warden up\`); ${portHint}`;
  else if (code === 'EACCES') reason = `permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); ${portHint}`;
  else if (code === 'EADDRNOTAVAIL') reason = `the address is not on this machine; set ${hostKey} in warden.yaml or ${envName(hostKey)}`;
  else return err;
  return new WardenError('WARDEN_CONFIG_LISTEN_FAILED', `the ${s.listener} cannot listen on ${where}: ${reason}`, { cause: err });
}
