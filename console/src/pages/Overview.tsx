import { useState } from 'react';
import { useApi } from '../api/ApiContext.js';
import { ApiError } from '../api/client.js';
import type { AuditEntry, AuditVerifyReport, CheckpointView, PepInfo, Status } from '../api/types.js';
import { usePoll } from '../lib/usePoll.js';
import { bucketDecisions, totals } from '../lib/series.js';
import { relative, shortTime } from '../lib/time.js';
import { LineChart } from '../components/LineChart.js';
import { EmptyState } from '../components/EmptyState.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Badge } from '../components/Badge.js';
import { TableHead } from '../components/TableHead.js';

const WINDOW_MS = 30 * 60_000;
const BUCKET_MS = 60_000;

export function Overview() {
  const api = useApi();
  const traffic = usePoll(async () => {
    const since = new Date(Date.now() - WINDOW_MS).toISOString();
    const { entries } = await api.get<{ entries: AuditEntry[] }>('/audit/records', { since, limit: 10_000 });
    return entries;
  }, []);
  const status = usePoll(() => api.get<Status>('/status'), []);
  const peps = usePoll(() => api.get<{ peps: PepInfo[]; currentVersion: number | null }>('/pep/peps'), []);

  const buckets = bucketDecisions((traffic.data ?? []).map((e) => e.record), { now: Date.now(), windowMs: WINDOW_MS, bucketMs: BUCKET_MS });
  const sum = totals(buckets);
  const times = buckets.map((b) => b.t);
  const denials = (traffic.data ?? []).filter((e) => e.record.kind === 'decision' && e.record.decision === 'deny').slice(0, 10);

  return (
    <>
      <section aria-labelledby="traffic-h">
        <h2 id="traffic-h">Gateway traffic, last 30 minutes</h2>
        <ErrorNote error={traffic.error} />
        <dl className="tiles">
          <div>
            <dt>Requests</dt>
            <dd data-testid="requests-total">{sum.requests}</dd>
          </div>
          <div>
            <dt>Denials</dt>
            <dd data-testid="denials-total">{sum.denials}</dd>
          </div>
          <div>
            <dt>Detector verdicts</dt>
            <dd>{sum.detectorVerdicts}</dd>
          </div>
          <div>
            <dt>Mean overhead</dt>
            <dd>{sum.overheadMs === null ? '—' : `${sum.overheadMs.toFixed(2)} ms`}</dd>
          </div>
        </dl>
        {traffic.data && sum.requests === 0 ? (
          <EmptyState title="No gateway requests in the last 30 minutes." command={'curl --cacert .warden/bundle.pem -H "Authorization: Bearer $WARDEN_DEMO_KEY" https://127.0.0.1:8443/v1/models'} />
        ) : (
          <div className="charts">
            <LineChart title="Requests and denials per minute" times={times} series={[{ name: 'requests', className: 's-requests', values: buckets.map((b) => b.requests) }, { name: 'denials', className: 's-denials', values: buckets.map((b) => b.denials) }]} />
            <LineChart title="Detector verdicts per minute" times={times} series={[{ name: 'verdicts', className: 's-detectors', values: buckets.map((b) => b.detectorVerdicts) }]} />
            <LineChart title="Mean gateway overhead (ms)" unit=" ms" times={times} series={[{ name: 'overhead', className: 's-overhead', values: buckets.map((b) => b.overheadMs) }]} />
          </div>
        )}
      </section>

      <section aria-labelledby="denials-h">
        <h2 id="denials-h">Recent denials</h2>
        {denials.length === 0 ? (
          <EmptyState title="Nothing denied recently." command={'curl --cacert .warden/bundle.pem https://127.0.0.1:8443/v1/models   # no key: denied, audited'} />
        ) : (
          <table data-testid="denials">
            <TableHead columns={['When', 'Principal', 'Action', 'Resource', 'Why']} />
            <tbody>
              {denials.map((e) => (
                <tr key={e.index}>
                  <td>{shortTime(e.record.ts)}</td>
                  <td>{e.record.principal ?? 'anonymous'}</td>
                  <td>{e.record.action}</td>
                  <td>{e.record.resource ?? e.record.model ?? '—'}</td>
                  <td>
                    <code>{e.record.code ?? 'deny'}</code>
                    {e.record.policies && e.record.policies.length > 0 && <> by {e.record.policies.join(', ')}</>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <div className="two-col">
        <section aria-labelledby="peps-h">
          <h2 id="peps-h">Enforcement points</h2>
          <ErrorNote error={peps.error ?? status.error} />
          <p>
            Current snapshot version: <strong>{peps.data?.currentVersion ?? status.data?.snapshotVersion ?? '—'}</strong>
            {status.data?.gateway && <> · in-process gateway at {status.data.gateway.url} ({status.data.gateway.inFlight} in flight)</>}
          </p>
          {peps.data && peps.data.peps.length === 0 ? (
            <EmptyState title="No remote gateway or sidecar is connected." command="npx warden gateway --control-plane https://127.0.0.1:7443 --name edge-1" />
          ) : (
            <table>
              <TableHead columns={['PEP', 'Snapshot', 'Policy', 'Last seen']} />
              <tbody>
                {(peps.data?.peps ?? []).map((p) => (
                  <tr key={p.name}>
                    <td>{p.name}</td>
                    <td>
                      v{p.snapshotVersion} {peps.data?.currentVersion !== null && p.snapshotVersion !== peps.data?.currentVersion && <Badge tone="warn">behind</Badge>}
                    </td>
                    <td>v{p.policyVersion}</td>
                    <td>{relative(p.lastSeenAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <AuditHealth />
      </div>
    </>
  );
}

function AuditHealth() {
  const api = useApi();
  const [publishing, setPublishing] = useState(false);
  const [publishError, setPublishError] = useState<Error>();
  const verify = usePoll(() => api.get<AuditVerifyReport>('/audit/verify'), [], 15_000);
  const checkpoint = usePoll(async () => {
    try {
      return (await api.get<{ checkpoint: CheckpointView; size: number }>('/audit/checkpoint')).checkpoint;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'WARDEN_AUDIT_NO_CHECKPOINT') return null;
      throw err;
    }
  }, [], 15_000);

  const publish = async () => {
    setPublishing(true);
    setPublishError(undefined);
    try {
      await api.post('/audit/checkpoint');
      await Promise.all([checkpoint.refresh(), verify.refresh()]);
    } catch (err) {
      setPublishError(err as Error);
    } finally {
      setPublishing(false);
    }
  };

  const v = verify.data;
  return (
    <section aria-labelledby="audit-h">
      <h2 id="audit-h">Audit log</h2>
      <ErrorNote error={verify.error ?? checkpoint.error ?? publishError} />
      {v && (
        <p data-testid="audit-verified">
          {v.ok ? <Badge tone="good">✓ verified</Badge> : <Badge tone="bad">✗ verification failed</Badge>} {v.size} records, root <code className="hash">{v.rootHash.slice(0, 16)}…</code>
        </p>
      )}
      {v && !v.ok && (
        <ul>
          {v.errors.slice(0, 5).map((e, i) => (
            <li key={i}>{e.message}</li>
          ))}
        </ul>
      )}
      {checkpoint.data === null && <EmptyState title="No signed checkpoint yet." command="npx warden audit verify --format json" />}
      {checkpoint.data && (
        <p>
          Latest checkpoint: size {checkpoint.data.size}, root <code className="hash">{checkpoint.data.rootHash.slice(0, 16)}…</code> ({checkpoint.data.origin})
        </p>
      )}
      <button type="button" onClick={() => void publish()} disabled={publishing}>
        Publish a checkpoint now
      </button>
    </section>
  );
}
