import { useState } from 'react';
import { useApi } from '../api/ApiContext.js';
import type { ApiKey, RegistrationEntry, Svid } from '../api/types.js';
import { usePoll } from '../lib/usePoll.js';
import { expiryClass, relative, shortTime } from '../lib/time.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { EmptyState } from '../components/EmptyState.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Badge, type Tone } from '../components/Badge.js';
import { TableHead } from '../components/TableHead.js';

type Pending = { kind: 'key'; key: ApiKey } | { kind: 'svid'; svid: Svid };

const EXPIRY_TONE: Record<ReturnType<typeof expiryClass>, Tone> = { expired: 'muted', soon: 'bad', day: 'warn', ok: 'good', never: 'info' };

export function Identities() {
  const api = useApi();
  const keys = usePoll(() => api.get<{ keys: ApiKey[] }>('/keys'), []);
  const svids = usePoll(() => api.get<{ svids: Svid[] }>('/identity/svids'), []);
  const entries = usePoll(() => api.get<{ entries: RegistrationEntry[] }>('/identity/entries'), [], 10_000);
  const [pending, setPending] = useState<Pending | null>(null);
  const [scope, setScope] = useState<'serial' | 'spiffeId'>('serial');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<Error>();
  const [notice, setNotice] = useState('');

  const confirm = async () => {
    if (!pending) return;
    setBusy(true);
    setActionError(undefined);
    try {
      if (pending.kind === 'key') {
        await api.post(`/keys/${encodeURIComponent(pending.key.id)}/revoke`);
        setNotice(`API key ${pending.key.name} revoked; gateways reject it from now on.`);
        await keys.refresh();
      } else {
        const body = scope === 'serial' ? { serial: pending.svid.serial } : { spiffeId: pending.svid.spiffeId };
        await api.post('/identity/revoke', { ...body, ...(reason ? { reason } : {}) });
        setNotice(scope === 'serial' ? `Certificate ${pending.svid.serial} revoked.` : `${pending.svid.spiffeId} revoked: no new SVIDs, existing ones rejected.`);
        await svids.refresh();
      }
      setPending(null);
      setReason('');
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const sortedSvids = [...(svids.data?.svids ?? [])].sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
  const sortedKeys = [...(keys.data?.keys ?? [])].sort((a, b) => Number(!!a.revokedAt) - Number(!!b.revokedAt) || a.name.localeCompare(b.name));

  const live = [...sortedSvids.filter((s) => !s.revoked).map((s) => s.notAfter), ...sortedKeys.filter((k) => !k.revokedAt).map((k) => k.expiresAt)];
  const within = (c: ReturnType<typeof expiryClass>) => live.filter((t) => expiryClass(t) === c).length;

  return (
    <>
      <dl className="tiles" aria-label="Expiry summary">
        <div>
          <dt>Expire within 1 h</dt>
          <dd>{within('soon')}</dd>
        </div>
        <div>
          <dt>Expire within 24 h</dt>
          <dd>{within('day')}</dd>
        </div>
        <div>
          <dt>Active API keys</dt>
          <dd>{sortedKeys.filter((k) => !k.revokedAt).length}</dd>
        </div>
        <div>
          <dt>Valid SVIDs</dt>
          <dd>{sortedSvids.filter((s) => !s.revoked && expiryClass(s.notAfter) !== 'expired').length}</dd>
        </div>
      </dl>
      <p className="status" role="status">
        {notice}
      </p>
      <ErrorNote error={actionError} />

      <section aria-labelledby="keys-h">
        <h2 id="keys-h">API keys</h2>
        <ErrorNote error={keys.error} />
        {keys.data && keys.data.keys.length === 0 ? (
          <EmptyState title="No API keys yet." command="npx warden keys create --name team-a --model iris --ttl 30d" />
        ) : (
          <table data-testid="keys">
            <TableHead columns={['Name', 'Principal', 'Prefix', 'Expires', 'Last used', 'Status']} actions="Actions" />
            <tbody>
              {sortedKeys.map((k) => (
                <tr key={k.id} data-key-name={k.name}>
                  <td>{k.name}</td>
                  <td>{k.principal}</td>
                  <td>
                    <code>{k.prefix}</code>
                  </td>
                  <td>
                    <Badge tone={EXPIRY_TONE[expiryClass(k.expiresAt)]}>{k.expiresAt ? relative(k.expiresAt) : 'never'}</Badge>
                  </td>
                  <td>{relative(k.lastUsedAt)}</td>
                  <td>{k.revokedAt ? <Badge tone="bad">revoked {relative(k.revokedAt)}</Badge> : <Badge tone="good">active</Badge>}</td>
                  <td>
                    {!k.revokedAt && (
                      <button type="button" className="danger" onClick={() => setPending({ kind: 'key', key: k })} aria-label={`Revoke API key ${k.name}`}>
                        Revoke…
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="svids-h">
        <h2 id="svids-h">SVIDs (soonest expiry first)</h2>
        <ErrorNote error={svids.error} />
        {svids.data && sortedSvids.length === 0 ? (
          <EmptyState title="No workload has an SVID yet." command="npx warden identity token create --spiffe-id spiffe://warden.local/trainer   # then on the workload: WARDEN_JOIN_TOKEN=… npx warden agent" />
        ) : (
          <table>
            <TableHead columns={['SPIFFE ID', 'Kind', 'Serial', 'Time to expiry', 'Status']} actions="Actions" />
            <tbody>
              {sortedSvids.map((s) => (
                <tr key={s.serial}>
                  <td>{s.spiffeId}</td>
                  <td>{s.kind}</td>
                  <td>
                    <code>{s.serial.slice(0, 16)}</code>
                  </td>
                  <td>
                    <Badge tone={EXPIRY_TONE[expiryClass(s.notAfter)]}>{relative(s.notAfter)}</Badge>
                  </td>
                  <td>{s.revoked ? <Badge tone="bad">revoked</Badge> : <Badge tone="good">valid</Badge>}</td>
                  <td>
                    {/* The listener certificates are the control plane's own; revoking them here would cut the console off. */}
                    {!s.revoked && s.kind !== 'server' && (
                      <button type="button" className="danger" onClick={() => setPending({ kind: 'svid', svid: s })} aria-label={`Revoke ${s.spiffeId} serial ${s.serial.slice(0, 16)}`}>
                        Revoke…
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="entries-h">
        <h2 id="entries-h">Registration entries</h2>
        <ErrorNote error={entries.error} />
        {entries.data && entries.data.entries.length === 0 ? (
          <EmptyState title="No registration entries." command="npx warden identity entry create --spiffe-id spiffe://warden.local/ns/ml/sa/trainer --selector k8s:ns:ml --selector k8s:sa:trainer" />
        ) : (
          <table>
            <TableHead columns={['SPIFFE ID', 'Selectors', 'SVID TTL', 'Created']} />
            <tbody>
              {(entries.data?.entries ?? []).map((e) => (
                <tr key={e.id}>
                  <td>{e.spiffeId}</td>
                  <td>{e.selectors.join(', ')}</td>
                  <td>{e.ttlSeconds ? `${e.ttlSeconds} s` : 'default'}</td>
                  <td>{shortTime(e.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <ConfirmDialog
        open={pending !== null}
        busy={busy}
        title={pending?.kind === 'key' ? `Revoke API key ${pending.key.name}?` : 'Revoke workload identity?'}
        confirmLabel="Revoke"
        onCancel={() => {
          setPending(null);
          setActionError(undefined);
        }}
        onConfirm={() => void confirm()}
      >
        {pending?.kind === 'key' && (
          <p>
            Every gateway rejects <code>{pending.key.prefix}…</code> ({pending.key.principal}) on its next request with <code>WARDEN_AUTHN_KEY_REVOKED</code>. This cannot be undone; create a new key instead.
          </p>
        )}
        {pending?.kind === 'svid' && (
          <>
            <fieldset>
              <legend>What to revoke</legend>
              <label>
                <input type="radio" name="scope" checked={scope === 'serial'} onChange={() => setScope('serial')} /> only this certificate ({pending.svid.serial.slice(0, 16)}…)
              </label>
              <label>
                <input type="radio" name="scope" checked={scope === 'spiffeId'} onChange={() => setScope('spiffeId')} /> the whole identity {pending.svid.spiffeId}
              </label>
            </fieldset>
            <label htmlFor="revoke-reason">Reason (recorded in the audit log)</label>
            <input id="revoke-reason" value={reason} maxLength={256} onChange={(e) => setReason(e.target.value)} />
          </>
        )}
        <ErrorNote error={actionError} />
      </ConfirmDialog>
    </>
  );
}
