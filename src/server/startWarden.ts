import { join } from 'node:path';
import { rmSync } from 'node:fs';
import type { Server as TlsServer } from 'node:tls';
import { upstreamConfig, type LoadedConfig, type UpstreamConfig } from '../config/index.js';
import { ensureDataDir, writeFileAtomic, removeStaleTempFiles } from '../crypto/index.js';
import { openStore, type Database } from '../store/index.js';
import { openAuditLog, type AuditLog } from '../audit/index.js';
import { createWorkloadKey, getAuthority, renewAtHalfLife, type CertificateAuthority } from '../identity/index.js';
import { startGateway, type RunningGateway } from '../gateway/index.js';
import { startDemoModelServer, loadIrisDataset, type DemoModelServer } from '../demo/index.js';
import { fitProfile, type FeatureProfile } from '../detect/index.js';
import { createGatewayObserver, metricsHandler, observeAudit, observeSnapshots, processMetricsRegistry, upstreamUp, type Logger } from '../observe/index.js';
import { startControlPlane, createControlPlaneContext, type RunningControlPlane } from './ControlPlane.js';
import { loadServerSecret } from './serverSecret.js';
import { publishDemoPolicy } from './demoPolicy.js';
import { mintFirstStartCredentials } from './firstStartCredentials.js';
import { caWorkloadTrust, createGatewayPlugins, detectorAlarmRecord } from './gatewayPlugins.js';
import { listenError } from './listenError.js';
import { advertisedHttpsUrl } from './advertisedUrl.js';
import { controlPlaneGaugeRefresher } from './controlPlaneGauges.js';


function demoIrisProfile(): FeatureProfile {
  const iris = loadIrisDataset();
  return fitProfile(iris.features, { labels: iris.labels, featureNames: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] });
}

export interface StartWardenOptions {
  config: LoadedConfig;
  logger: Logger;
  /** Start the demo model server and create a demo API key on first start. */
  demo: boolean;
  /** Run the in-process gateway (default true; `warden server` runs the control plane alone). */
  gateway?: boolean;
}

/** What `--ready-json` prints (DESIGN.md contract). Secrets only on first start, otherwise null. */
export interface ReadyInfo {
  /** null for `warden server` (control plane only). */
  gatewayUrl: string | null;
  adminUrl: string;
  caBundle: string;
  adminToken: string | null;
  demoKey: string | null;
}

export interface RunningWarden {
  ready: ReadyInfo;
  /** Call once `ready`'s admin token and demo key are printed; until then the next start replaces them. */
  credentialsShown(): Promise<void>;
  /** No first-start credentials here because a replica starting at the same time on this database printed them. */
  credentialsPrintedByAnotherReplica: boolean;
  controlPlane: RunningControlPlane;
  gateway: RunningGateway | null;
  ca: CertificateAuthority;
  db: Database;
  audit: AuditLog;
  demo: DemoModelServer | null;
  /** Graceful shutdown: drain in-flight requests, flush the audit log, close the store. */
  close(): Promise<void>;
}

/** Listener certificates are short-lived and renewed at half-life without a restart. */
const LISTENER_CERT_TTL_SECONDS = 7 * 24 * 3600;
/** How often the listeners compare the CA's bundle with the one they trust (a string comparison). */
const BUNDLE_FOLLOW_MS = 2000;

async function issueListenerTls(ca: CertificateAuthority, hostnames: string[]) {
  const ipAddresses = hostnames.filter((h) => /^[0-9.]+$/.test(h) || h.includes(':'));
  const dnsNames = hostnames.filter((h) => !ipAddresses.includes(h));
  const cert = await ca.issueServerCertificate({ dnsNames, ipAddresses, ttlSeconds: LISTENER_CERT_TTL_SECONDS });
  return { certPem: cert.chainPem, keyPem: cert.keyPem, caPem: ca.bundlePem() };
}

/**
 * The gateway's own X.509-SVID (client certificate towards Warden sidecar upstreams), with the
 * CA's SVID lifetime like any workload's (`identity.svidTtlSeconds`), renewed at half-life.
 */
async function issueGatewaySvid(ca: CertificateAuthority) {
  const key = createWorkloadKey();
  const svid = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: `spiffe://${ca.trustDomain}/warden/gateway/local` });
  return { chainPem: svid.chainPem, keyPem: key.keyPem, notAfter: svid.notAfter };
}

const SHARED_DIR_TEMP_GRACE_MS = 60_000;

/** `warden up`: control plane + gateway (+ demo model server) in one process on one store. */
export async function startWarden(options: StartWardenOptions): Promise<RunningWarden> {
  const { config, logger } = options;
  ensureDataDir(config.dataDir);
  // Temp copies a crash left between write and rename (keys/ holds secrets). CLI commands also
  // write in these directories, so a temp file younger than a minute may be theirs, in flight.
  for (const dir of [config.dataDir, join(config.dataDir, 'keys')]) removeStaleTempFiles(dir, SHARED_DIR_TEMP_GRACE_MS);
  const db = await openStore({ databaseUrl: config.database.url || undefined, dataDir: config.dataDir, poolSize: config.database.poolSize });
  const cleanup: (() => Promise<void>)[] = [() => db.close()];
  const fail = async (err: unknown): Promise<never> => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    throw err;
  };
  try {
    const serverSecret = loadServerSecret(config.dataDir);
    const audit = await openAuditLog({
      dataDir: config.dataDir,
      audit: config.audit,
      db,
      // Our own message (what happened, what to set); a database error's own text stays out of the log.
      onFailClosed: (err) =>
        logger.error(
          { code: (err as { code?: string }).code ?? 'error', cause: ((err as { cause?: { code?: string } }).cause?.code) ?? undefined },
          `audit log failing closed (admin changes and audited requests refused until a write succeeds): ${(err as Error).message}`,
        ),
    });
    cleanup.push(() => audit.close());
    const ctx = createControlPlaneContext({ config, db, audit, logger, serverSecret });
    // Same CA instance as the identity routes (memoised per context): one revocation list per process.
    const ca = await getAuthority(ctx);
    cleanup.push(() => ca.close());

    const credentials = await mintFirstStartCredentials(db, serverSecret, {
      demo: options.demo,
      onWait: () => logger.info('another replica is starting on this database: waiting until it has shown the first-start credentials'),
    });
    // A start that fails in-process gives them up at once; one killed before `shown()` gives them up at the next start.
    cleanup.push(() => credentials.discard());
    if (credentials.createdByAnotherStart) logger.info('the first-start admin token was created and printed by another replica starting on this database');

    let demo: DemoModelServer | null = null;
    const upstreams: UpstreamConfig[] = [...config.gateway.upstreams];
    if (options.demo) {
      await publishDemoPolicy(db);
      demo = await startDemoModelServer();
      cleanup.push(() => demo!.close());
      upstreams.push(upstreamConfig.parse({ name: 'demo', url: demo.url, models: ['iris', 'echo'], timeoutMs: 30_000 }));
    }

    const tls = config.gateway.insecureDev ? null : await issueListenerTls(ca, config.server.hostnames);
    let gateway: RunningGateway | null = null;
    const controlPlaneTls = tls ?? (await issueListenerTls(ca, config.server.hostnames));
    const controlPlane = await startControlPlane({
      ctx,
      tls: controlPlaneTls,
      status: () => ({ auditSize: audit.size, auditCheckpointSize: audit.latestCheckpoint()?.size ?? null, gateway: gateway ? { url: gateway.url, inFlight: gateway.inFlight() } : null, demoUpstream: demo?.url ?? null }),
    });
    cleanup.push(() => controlPlane.close());
    const plugins = await createGatewayPlugins(config, caWorkloadTrust(ca), logger, {
      onAlarm: (event) => {
        // Alarms become audit events and reach the incident system (alert rules, runbooks).
        ctx.events.emit('detector.alarm', event);
        void audit.append(detectorAlarmRecord(event)).catch(() => undefined);
      },
      // Per-class Gaussians (iris is three clusters): one Gaussian for all rows lets far more extraction queries pass as in distribution.
      profiles: options.demo ? { iris: demoIrisProfile() } : undefined,
      models: upstreams.flatMap((u) => u.models),
    });
    cleanup.push(() => plugins.close());
    const registry = processMetricsRegistry({ processMetrics: config.observe.processMetrics });
    const refreshControlPlaneGauges = controlPlaneGaugeRefresher(controlPlane.ctx, registry);
    const observer = createGatewayObserver({ registry, upstreams, emitDecision: (ev) => controlPlane.ctx.events.emit('gateway.decision', ev) });
    observeSnapshots(controlPlane.snapshots, observer.metrics, 'gateway');
    let gatewaySvid = upstreams.some((u) => u.mtls) ? await issueGatewaySvid(ca) : null;
    if (options.gateway !== false) gateway = await startGateway({
      // The CA's bundle as it is now (a cached string), so sidecars under a rotated CA's new root are trusted at once.
      upstreamSvid: { current: () => (gatewaySvid ? { ...gatewaySvid, bundlePem: ca.bundlePem() } : null) },
      upstreamRevocations: ca.revocations,
      trustDomain: ca.trustDomain,
      ...plugins.gatewayOptions,
      onRequestDone: observer.observe,
      onMalformedRequest: observer.malformed,
      onUpstreamHealth: (name, up) => upstreamUp(observer.metrics, name).set(up),
      metricsHandler: config.observe.metricsEnabled
        ? metricsHandler(registry, {
            token: config.observe.metricsToken,
            // Clients reach this listener: no anonymous scrapes (the admin listener serves the same registry).
            requireToken: true,
            beforeScrape: async () => {
              observeAudit(audit, observer.metrics, 'gateway');
              // Same registry as the admin listener: its store-backed gauges must be current here too.
              await refreshControlPlaneGauges().catch((err: unknown) => logger.warn({ err: (err as { code?: string }).code ?? 'error' }, 'metrics refresh failed'));
            },
          })
        : undefined,
      tls,
      upstreams,
      snapshots: controlPlane.snapshots,
      audit,
      logger,
      serverSecret,
    }).catch((err: unknown) => {
      throw listenError(err, { listener: 'gateway', host: config.gateway.host, port: config.gateway.port, portFlag: '--port-gateway N (warden up)', portKey: 'gateway.port' });
    });
    const runningGateway = gateway;
    if (runningGateway) cleanup.push(() => runningGateway.close(config.server.shutdownGraceSeconds * 1000));

    let listenerTls = controlPlaneTls;
    const applyListenerTls = (next: typeof listenerTls): void => {
      listenerTls = next;
      (controlPlane.app.server as unknown as TlsServer).setSecureContext({ cert: next.certPem, key: next.keyPem, ca: next.caPem });
      runningGateway?.updateTls(next);
    };
    const renew = setInterval(
      () => {
        void (async () => {
          applyListenerTls(await issueListenerTls(ca, config.server.hostnames));
          logger.info('listener certificates renewed');
        })().catch((err) => logger.error({ err }, 'listener certificate renewal failed'));
      },
      (LISTENER_CERT_TTL_SECONDS * 1000) / 2,
    );
    renew.unref();
    const gatewaySvidRenewal = renewAtHalfLife(gatewaySvid?.notAfter ?? null, {
      issue: () => issueGatewaySvid(ca),
      notAfterOf: (fresh) => fresh.notAfter,
      apply: (fresh) => {
        gatewaySvid = fresh;
        logger.info({ notAfter: fresh.notAfter.toISOString() }, 'gateway SVID renewed');
      },
      onError: (err) => logger.error({ err: (err as Error).message }, 'gateway SVID renewal failed; retrying'),
    });
    // A CA rotation (or an expired root dropped) changes the bundle. Clients pick their certificate
    // by the CA names a listener advertises: the listeners follow the bundle at once (upstream mTLS
    // reads it per connection). The certificates themselves stay until renewal, so remote PEPs that
    // trust only the old root keep reaching the control plane.
    let trustedBundle = ca.bundlePem();
    const followBundle = setInterval(() => {
      const bundle = ca.bundlePem();
      if (bundle === trustedBundle) return;
      trustedBundle = bundle;
      try {
        applyListenerTls({ ...listenerTls, caPem: bundle });
        logger.info({ caSequence: ca.sequence }, 'trust bundle changed: the listeners advertise it');
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'applying the new trust bundle failed');
      }
    }, BUNDLE_FOLLOW_MS);
    followBundle.unref();

    const ready: ReadyInfo = {
      // Its certificate names server.hostnames too: advertised under one of them.
      gatewayUrl: gateway ? (tls ? advertisedHttpsUrl(config.gateway.host, gateway.port, config.server.hostnames) : gateway.url) : null,
      adminUrl: controlPlane.url,
      caBundle: join(config.dataDir, 'bundle.pem'),
      adminToken: credentials.adminToken,
      demoKey: credentials.demoKey,
    };
    const serverFile = join(config.dataDir, 'server.json');
    writeFileAtomic(serverFile, JSON.stringify({ pid: process.pid, gatewayUrl: ready.gatewayUrl, adminUrl: ready.adminUrl, caBundle: ready.caBundle }, null, 2) + '\n', 0o600);

    let closing: Promise<void> | null = null;
    return {
      ready,
      credentialsShown: () => credentials.shown(),
      credentialsPrintedByAnotherReplica: credentials.createdByAnotherStart,
      controlPlane,
      gateway,
      ca,
      db,
      audit,
      demo,
      close: () =>
        (closing ??= (async () => {
          // Stopped before printing: a replica waiting on the first-start lock goes on (and mints anew).
          await credentials.release();
          clearInterval(renew);
          clearInterval(followBundle);
          gatewaySvidRenewal.stop();
          // Order: stop taking requests and drain them, then the control plane, then flush the log.
          await runningGateway?.close(config.server.shutdownGraceSeconds * 1000);
          await controlPlane.close();
          if (demo) await demo.close();
          await audit.close();
          await plugins.close();
          await ca.close();
          await db.close();
          rmSync(serverFile, { force: true });
        })()),
    };
  } catch (err) {
    return fail(err);
  }
}

