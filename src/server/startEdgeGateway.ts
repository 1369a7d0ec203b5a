import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { WardenError } from '../errors/index.js';
import type { LoadedConfig } from '../config/index.js';
import { checkControlPlaneUrl, controlPlaneTls, createWorkloadKey, nodeCertificatesFromPem, renewAtHalfLife } from '../identity/index.js';
import { startGateway, SnapshotHolder, SnapshotSubscriber, RemoteAuditWriter, type PepSnapshot, type RunningGateway, type GatewayTls } from '../gateway/index.js';
import { serverSecretCheck } from '../store/index.js';
import { createGatewayObserver, metricsHandler, observeAudit, observeSnapshots, processMetricsRegistry, redactUrl, upstreamUp, type Logger } from '../observe/index.js';
import { createGatewayPlugins, detectorAlarmRecord } from './gatewayPlugins.js';
import { createAlarmForwarder } from './forwardAlarm.js';
import { startEdgeWorkloadTrust, type EdgeWorkloadTrust } from './edgeWorkloadTrust.js';
import { listenError } from './listenError.js';
import { advertisedHttpsUrl } from './advertisedUrl.js';
import { SpiffeBundleFollower } from './spiffeBundleFollower.js';


export interface StartEdgeGatewayOptions {
  config: LoadedConfig;
  logger: Logger;
  /** Control plane admin API, e.g. https://cp.internal:7443 */
  controlPlaneUrl: string;
  token: string;
  /** CA bundle that verifies the control plane (and issued this gateway's certificate). */
  caPem: string;
  name: string;
  /** HMAC key shared with the control plane (WARDEN_SERVER_SECRET). */
  serverSecret: Uint8Array;
  /** Listener certificate files; otherwise a certificate is issued by the control plane's CA. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Fixed SPIFFE bundle refresh interval (tests); default: the bundle's refresh hint, 10 s..5 min. */
  bundleRefreshMs?: number;
}

export interface RunningEdgeGateway {
  gateway: RunningGateway;
  /** The URL to give clients: one the listener certificate verifies for (see advertisedHttpsUrl). */
  url: string;
  name: string;
  close(): Promise<void>;
}

/** Host names (not IPs) the listener certificate from the control plane's CA is issued for: PEP tokens may not request IP SANs. */
function certificateDnsNames(config: LoadedConfig): string[] {
  return config.server.hostnames.filter((h) => !/^[0-9.]+$/.test(h) && !h.includes(':'));
}

/**
 * The names a listener certificate is valid for: the DNS names and IP addresses of its leaf's
 * subjectAltName, as issued (the control plane may leave out names identity.gatewayDnsNames does
 * not allow) or as read from --tls-cert.
 */
function certificateNames(chainPem: string): string[] {
  const san = nodeCertificatesFromPem(chainPem)[0]?.subjectAltName ?? '';
  return san.split(', ').flatMap((entry) => (entry.startsWith('DNS:') ? [entry.slice(4)] : entry.startsWith('IP Address:') ? [entry.slice(11)] : []));
}

function gatewaySpiffeId(o: StartEdgeGatewayOptions): string {
  return `spiffe://${o.config.server.trustDomain}/warden/gateway/${o.name}`;
}

/** The serial of a chain's leaf, for the log. */
function leafSerial(chainPem: string): string | undefined {
  return nodeCertificatesFromPem(chainPem)[0]?.serialNumber;
}

/**
 * Asks the control plane's CA for this gateway's listener certificate (key generated here, never
 * sent). It is issued under the oldest root still usable (`root: "oldest"`), like the control
 * plane's own listeners keep theirs: after a CA rotation, clients holding the bundle.pem from
 * before it keep verifying this gateway while the old root is in the bundle.
 */
async function issueFromControlPlane(o: StartEdgeGatewayOptions, roots: string): Promise<{ material: GatewayTls; notAfter: Date | null }> {
  const key = createWorkloadKey();
  const agent = new Agent({ connect: controlPlaneTls(roots) });
  try {
    const dnsNames = certificateDnsNames(o.config);
    const ask = async (root: 'oldest' | undefined) => {
      const res = await request(`${o.controlPlaneUrl}/api/v1/identity/issue`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ csr: key.csrPem, spiffeId: gatewaySpiffeId(o), dnsNames, root }),
      });
      return { status: res.statusCode, body: (await res.body.json()) as { chainPem?: string; bundlePem?: string; notAfter?: string; error?: { code: string; message: string } } };
    };
    let { status, body } = await ask('oldest');
    // A control plane older than this gateway refuses the unknown field: it issues under its active root then.
    if (status === 400 && body.error?.code === 'WARDEN_INPUT_INVALID' && /root/.test(body.error.message)) ({ status, body } = await ask(undefined));
    if (status !== 200 || !body.chainPem) throw new WardenError('WARDEN_UNAVAILABLE', `control plane refused to issue the gateway certificate: ${body.error?.code ?? status}`);
    return { material: { certPem: body.chainPem, keyPem: key.keyPem, caPem: body.bundlePem }, notAfter: body.notAfter ? new Date(body.notAfter) : null };
  } finally {
    await agent.close();
  }
}

/** Whether the snapshot's API key hashes were made with `secret` (a control plane that does not say is trusted to). */
function sameServerSecret(snapshot: PepSnapshot, secret: Uint8Array): boolean {
  return snapshot.secretCheck === undefined || snapshot.secretCheck === serverSecretCheck(secret);
}

/**
 * `warden gateway`: a stateless edge PEP. It holds no database connection: the snapshot comes over
 * the control plane's stream and audit records go back to it in acknowledged batches.
 */
export async function startEdgeGateway(options: StartEdgeGatewayOptions): Promise<RunningEdgeGateway> {
  const o = { ...options, controlPlaneUrl: checkControlPlaneUrl(options.controlPlaneUrl) };
  const holder = new SnapshotHolder();
  // Everything this gateway trusts follows the trust domain's SPIFFE bundle (fetched over a channel
  // the --ca file verified, which stays an anchor): after a CA rotation the control plane's own
  // certificate, client SVIDs and sidecar upstreams move to the new root without a restart.
  let bundle: SpiffeBundleFollower | null = null;
  const roots = (): string => bundle?.x509Pem() ?? o.caPem;
  const subscriber = new SnapshotSubscriber({ url: o.controlPlaneUrl, token: o.token, caPem: roots, name: o.name, holder, logger: o.logger });
  subscriber.start();
  const firstOrTimeout = await Promise.race([subscriber.firstSnapshot.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
  if (!firstOrTimeout) {
    await subscriber.close();
    throw new WardenError('WARDEN_UNAVAILABLE', `no snapshot from the control plane at ${redactUrl(o.controlPlaneUrl)} within 15 s (check the URL, token and CA)`);
  }
  // Another secret would hash every API key differently: each one refused as invalid (401), which
  // sends users rotating good keys. Refused at start; a control plane whose secret changes later is logged.
  if (!sameServerSecret(holder.current()!, o.serverSecret)) {
    await subscriber.close();
    throw new WardenError('WARDEN_CONFIG_INVALID', `this gateway's server secret (WARDEN_SERVER_SECRET or its data dir's) is not the control plane's at ${redactUrl(o.controlPlaneUrl)}: every API key would be refused; give it the control plane's secret`);
  }
  let reportedCheck: string | undefined;
  const stopCheckingSecret = holder.onUpdate((snapshot) => {
    if (sameServerSecret(snapshot, o.serverSecret) || snapshot.secretCheck === reportedCheck) return;
    reportedCheck = snapshot.secretCheck;
    o.logger.error({ version: snapshot.version }, 'the control plane now uses another server secret than this gateway: every API key is refused until both use the same one');
  });
  // What a start that fails part-way has opened, closed again in reverse (timers and streams would keep the process alive).
  const undo: (() => unknown)[] = [() => subscriber.close(), stopCheckingSecret];
  try {
    const authnConfig = o.config.gateway.authn;
    // Client SVIDs and JWT-SVIDs need the trust domain's bundle and a live revocation list.
    const workloadAuth = authnConfig.mtls || authnConfig.jwtSvidAudience !== null;
    // Only workload credentials need the bundle's JWT keys at once; otherwise it is for following rotations.
    const followed = await SpiffeBundleFollower.start({ controlPlaneUrl: o.controlPlaneUrl, caPem: o.caPem, logger: o.logger, refreshMs: o.bundleRefreshMs, required: workloadAuth });
    bundle = followed;
    undo.push(() => followed.close());
    const fromFiles = !!(o.tlsCertFile || o.tlsKeyFile);
    if (fromFiles && (!o.tlsCertFile || !o.tlsKeyFile)) throw new WardenError('WARDEN_USAGE', '--tls-cert and --tls-key go together');
    const sidecarUpstreams = o.config.gateway.upstreams.some((u) => u.mtls);
    // This gateway's own SVID: the listener certificate (unless files are given), its identity on the
    // revocation stream and its client certificate towards Warden sidecar upstreams.
    const svid = workloadAuth || sidecarUpstreams || (!o.config.gateway.insecureDev && !fromFiles) ? await issueFromControlPlane(o, roots()) : null;
    let upstreamSvid = svid ? { chainPem: svid.material.certPem, keyPem: svid.material.keyPem } : null;
    let tls: GatewayTls | null = null;
    if (!o.config.gateway.insecureDev) {
      tls = fromFiles ? { certPem: readFileSync(o.tlsCertFile!, 'utf8'), keyPem: readFileSync(o.tlsKeyFile!, 'utf8'), caPem: workloadAuth ? roots() : undefined } : svid!.material;
    }
    let edgeTrust: EdgeWorkloadTrust | null = null;
    // The revocation list also guards the other direction: sidecar upstreams whose SVID is revoked.
    if (workloadAuth || sidecarUpstreams) {
      edgeTrust = await startEdgeWorkloadTrust({
        controlPlaneUrl: o.controlPlaneUrl,
        caPem: o.caPem,
        bundle: followed,
        trustDomain: o.config.server.trustDomain,
        svid: { chainPem: svid!.material.certPem, keyPem: svid!.material.keyPem },
        logger: o.logger,
        maxStaleMs: authnConfig.revocationMaxStaleSeconds * 1000,
      });
      undo.push(() => edgeTrust?.close());
    }
    const audit = new RemoteAuditWriter({ url: o.controlPlaneUrl, token: o.token, caPem: roots, pep: o.name, logger: o.logger, spoolDir: join(o.config.dataDir, 'audit-spool') });
    undo.push(() => audit.close());
    // Records a previous run could not deliver at shutdown go first (in the background: the control plane is up, we just got a snapshot).
    void audit.replaySpool().catch((err: unknown) => o.logger.error({ err: (err as Error).message }, 'spooled audit records not delivered yet; kept for the next start'));
    const alarms = createAlarmForwarder({ controlPlaneUrl: o.controlPlaneUrl, token: o.token, caPem: roots, pep: o.name, logger: o.logger });
    undo.push(() => alarms.close());
    const plugins = await createGatewayPlugins(o.config, edgeTrust?.trust ?? null, o.logger, {
      onAlarm: (event) => {
        o.logger.warn({ detector: event.detector, model: event.model }, 'detector alarm');
        void audit.append(detectorAlarmRecord(event)).catch(() => undefined);
        void alarms.forward(event);
      },
      models: o.config.gateway.upstreams.flatMap((u) => u.models),
    });
    undo.push(() => plugins.close());
    // The same series as `warden up`'s gateway, on this gateway's listener: each replica is scraped on its own.
    const registry = processMetricsRegistry({ processMetrics: o.config.observe.processMetrics });
    const observer = createGatewayObserver({ registry, upstreams: o.config.gateway.upstreams });
    const stopObservingSnapshots = observeSnapshots(holder, observer.metrics, o.name);
    undo.push(stopObservingSnapshots);
    if (o.config.observe.metricsEnabled && !o.config.observe.metricsToken) {
      // This listener is the only place this replica's series are served, and it refuses anonymous scrapes.
      o.logger.warn('observe.metricsToken is not set: this gateway refuses every /metrics scrape (401)');
    }
    const gateway = await startGateway({
      ...plugins.gatewayOptions,
      onRequestDone: observer.observe,
      onMalformedRequest: observer.malformed,
      onUpstreamHealth: (name, up) => upstreamUp(observer.metrics, name).set(up),
      metricsHandler: o.config.observe.metricsEnabled
        ? metricsHandler(registry, { token: o.config.observe.metricsToken, requireToken: true, beforeScrape: async () => observeAudit(audit, observer.metrics, o.name) })
        : undefined,
      tls,
      upstreams: o.config.gateway.upstreams,
      snapshots: holder,
      audit,
      logger: o.logger,
      serverSecret: o.serverSecret,
      upstreamSvid: { current: () => (upstreamSvid ? { ...upstreamSvid, bundlePem: roots() } : null) },
      upstreamRevocations: edgeTrust?.trust.revocations ?? null,
      trustDomain: o.config.server.trustDomain,
    }).catch((err: unknown) => {
      throw listenError(err, { listener: 'gateway', host: o.config.gateway.host, port: o.config.gateway.port, portFlag: '--port N (warden gateway)', portKey: 'gateway.port' });
    });
    let listenerTls = tls;
    const applyTls = (next: GatewayTls): void => {
      listenerTls = next;
      gateway.updateTls(next);
    };
    // Client SVIDs are picked by the CA names the listener advertises: they follow the bundle too.
    if (workloadAuth) {
      followed.on('x509Changed', (pem) => {
        if (listenerTls) applyTls({ ...listenerTls, caPem: pem });
      });
    }
    const spiffeId = gatewaySpiffeId(o);
    // The SVID (its chain) whose revocation has already been acted on (renewed at once, or left to
    // the schedule): a fresh SVID revoked too is not renewed again and again.
    let revocationHandled: string | null = null;
    // A certificate from the control plane's CA is short-lived: renew it at half-life.
    const renewal = renewAtHalfLife(svid?.notAfter ?? null, {
      issue: () => issueFromControlPlane(o, roots()),
      notAfterOf: (fresh) => fresh.notAfter,
      apply: (fresh) => {
        if (!fromFiles) applyTls(fresh.material);
        edgeTrust?.setSvid({ chainPem: fresh.material.certPem, keyPem: fresh.material.keyPem });
        upstreamSvid = { chainPem: fresh.material.certPem, keyPem: fresh.material.keyPem };
        o.logger.info({ notAfter: fresh.notAfter }, 'listener certificate renewed');
        if (edgeTrust?.trust.revocations?.revokesChain(spiffeId, fresh.material.certPem)) {
          revocationHandled = fresh.material.certPem;
          o.logger.error({ serial: leafSerial(fresh.material.certPem) }, 'the renewed gateway SVID is revoked too (by its serial or an intermediate of its chain); not renewing again before its half-life');
        }
      },
      onError: (err) => o.logger.error({ err: (err as Error).message }, 'listener certificate renewal failed; retrying'),
    });
    // Revoking this gateway's own SVID (its serial, or the intermediate that issued it after a CA key
    // compromise) makes the control plane end its revocation stream and refuse the reconnect: workload
    // credentials would be refused once the list is stale, and the listener and upstream mTLS would
    // present a revoked certificate until the next half-life. Renew at once instead (the control
    // plane issues nothing under a revoked intermediate).
    const revocations = edgeTrust?.trust.revocations;
    if (revocations && svid) {
      revocations.on('change', () => {
        const current = upstreamSvid;
        if (!current) return;
        if (current.chainPem === revocationHandled || !revocations.revokesChain(spiffeId, current.chainPem)) return;
        revocationHandled = current.chainPem;
        if (revocations.hasSpiffeId(spiffeId)) {
          o.logger.error({ spiffeId }, "this gateway's SPIFFE ID is revoked: the control plane issues it no new SVID");
          return;
        }
        o.logger.warn({ serial: leafSerial(current.chainPem) }, "this gateway's own SVID was revoked (its serial or the intermediate that issued it); renewing it now");
        renewal.renewNow();
      });
    }
    return {
      gateway,
      // Clients verify the host name: a URL the certificate does not name (a wildcard bind's
      // https://0.0.0.0:PORT, or https://127.0.0.1:PORT when it names localhost only) would fail.
      url: tls ? advertisedHttpsUrl(o.config.gateway.host, gateway.port, certificateNames(tls.certPem)) : gateway.url,
      name: o.name,
      async close() {
        renewal.stop();
        await gateway.close(o.config.server.shutdownGraceSeconds * 1000);
        stopObservingSnapshots();
        await audit.close();
        await subscriber.close();
        await plugins.close();
        await edgeTrust?.close();
        followed.close();
        await alarms.close();
      },
    };
  } catch (err) {
    for (const close of undo.reverse()) await Promise.resolve().then(close).catch(() => undefined);
    throw err;
  }
}

/** The CA bundle a remote PEP trusts: --ca, WARDEN_CA_FILE, or <data-dir>/bundle.pem. */
export function readCaBundle(dataDir: string, explicit?: string): string {
  const file = explicit ?? process.env.WARDEN_CA_FILE ?? join(dataDir, 'bundle.pem');
  if (!existsSync(file)) throw new WardenError('WARDEN_USAGE', `CA bundle ${file} not found (pass --ca with the control plane's bundle.pem)`);
  return readFileSync(file, 'utf8');
}
