import { useEffect, useState, type FormEvent } from 'react';
import { useApi } from '../api/ApiContext.js';
import type { AuditEntry, InclusionProof } from '../api/types.js';
import { verifyInclusion } from '../lib/merkle.js';
import { shortTime } from '../lib/time.js';
import { EmptyState } from '../components/EmptyState.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Badge } from '../components/Badge.js';
import { TableHead } from '../components/TableHead.js';

interface Filter {
  principal: string;
  decision: '' | 'allow' | 'deny';
  kind: '' | 'decision' | 'admin' | 'event';
  since: string;
  until: string;
}

/** datetime-local has no zone; the reader means their local time. */
const toIso = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

export function Audit() {
  const api = useApi();
  const [filter, setFilter] = useState<Filter>({ principal: '', decision: '', kind: '', since: '', until: '' });
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<Error>();
  const [proofFor, setProofFor] = useState<number | null>(null);

  const search = async (e?: FormEvent) => {
    e?.preventDefault();
    setError(undefined);
    try {
      const r = await api.get<{ entries: AuditEntry[] }>('/audit/records', { principal: filter.principal.trim(), decision: filter.decision, kind: filter.kind, since: toIso(filter.since), until: toIso(filter.until), limit: 200 });
      setEntries(r.entries);
    } catch (err) {
      setError(err as Error);
    }
  };
  const set = <K extends keyof Filter>(k: K, v: Filter[K]) => setFilter((f) => ({ ...f, [k]: v }));

  return (
    <>
      <section aria-labelledby="search-h">
        <h2 id="search-h">Search</h2>
        <form onSubmit={search} className="filters">
          <div>
            <label htmlFor="f-principal">Principal</label>
            <input id="f-principal" placeholder='ApiKey::"demo"' value={filter.principal} onChange={(e) => set('principal', e.target.value)} spellCheck={false} />
          </div>
          <div>
            <label htmlFor="f-decision">Decision</label>
            <select id="f-decision" value={filter.decision} onChange={(e) => set('decision', e.target.value as Filter['decision'])}>
              <option value="">any</option>
              <option value="allow">allow</option>
              <option value="deny">deny</option>
            </select>
          </div>
          <div>
            <label htmlFor="f-kind">Kind</label>
            <select id="f-kind" value={filter.kind} onChange={(e) => set('kind', e.target.value as Filter['kind'])}>
              <option value="">any</option>
              <option value="decision">decision</option>
              <option value="admin">admin</option>
              <option value="event">event</option>
            </select>
          </div>
          <div>
            <label htmlFor="f-since">From</label>
            <input id="f-since" type="datetime-local" value={filter.since} onChange={(e) => set('since', e.target.value)} />
          </div>
          <div>
            <label htmlFor="f-until">Until</label>
            <input id="f-until" type="datetime-local" value={filter.until} onChange={(e) => set('until', e.target.value)} />
          </div>
          <div>
            <button type="submit">Search</button>
          </div>
        </form>
        <ErrorNote error={error} />
      </section>

      <section aria-labelledby="results-h">
        <h2 id="results-h">Records{entries ? ` (${entries.length}, newest first)` : ''}</h2>
        {entries === null && <p className="help">Search by principal, decision and time; every field is optional.</p>}
        {entries?.length === 0 && <EmptyState title="No records match." command="npx warden audit tail --format json" />}
        {entries && entries.length > 0 && (
          <table data-testid="audit-results">
            <TableHead columns={['#', 'When', 'Kind', 'Principal', 'Action', 'Resource', 'Decision']} actions="Proof" />
            <tbody>
              {entries.map((e) => (
                <tr key={e.index} className={e.index === proofFor ? 'selected' : undefined}>
                  <td>{e.index}</td>
                  <td>{shortTime(e.record.ts)}</td>
                  <td>{e.record.kind}</td>
                  <td>{e.record.principal ?? '—'}</td>
                  <td>{e.record.action}</td>
                  <td>{e.record.resource ?? e.record.model ?? '—'}</td>
                  <td>
                    {e.record.decision && <Badge tone={e.record.decision === 'allow' ? 'good' : 'bad'}>{e.record.decision}</Badge>} {e.record.code && <code>{e.record.code}</code>}
                  </td>
                  <td>
                    <button type="button" onClick={() => setProofFor(e.index)} aria-label={`Inclusion proof of record ${e.index}`}>
                      Proof
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {proofFor !== null && <Proof key={proofFor} index={proofFor} />}
    </>
  );
}

/** GET /audit/proof/:index, then the path is recomputed here with WebCrypto (RFC 9162). */
function Proof({ index }: { index: number }) {
  const api = useApi();
  const [proof, setProof] = useState<InclusionProof | null>(null);
  const [verified, setVerified] = useState<boolean | null>(null);
  const [error, setError] = useState<Error>();

  const load = async () => {
    setError(undefined);
    try {
      const p = await api.get<InclusionProof>(`/audit/proof/${index}`);
      setProof(p);
      setVerified(await verifyInclusion(p.index, p.size, p.leafHash, p.proof, p.checkpoint.rootHash));
    } catch (err) {
      setError(err as Error);
    }
  };
  useEffect(() => {
    void load();
    // One fetch per record; the parent remounts this component (key) for another index.
  }, [index]);

  const publishAndRetry = async () => {
    try {
      await api.post('/audit/checkpoint');
      await load();
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <section aria-labelledby="proof-h" data-testid="proof">
      <h2 id="proof-h">Inclusion proof of record {index}</h2>
      {!proof && !error && <p role="status">Loading the proof…</p>}
      <ErrorNote error={error} />
      {error && (
        <p>
          A record is provable once a signed checkpoint covers it.{' '}
          <button type="button" onClick={() => void publishAndRetry()}>
            Publish a checkpoint and retry
          </button>
        </p>
      )}
      {proof && (
        <>
          <p>
            {verified ? <Badge tone="good">✓ verified in this browser</Badge> : <Badge tone="bad">✗ proof does not match the checkpoint</Badge>} leaf {proof.index} of {proof.size}, checkpoint root <code className="hash">{proof.checkpoint.rootHash.slice(0, 16)}…</code>
          </p>
          <dl className="attrs">
            <div>
              <dt>leaf hash</dt>
              <dd>
                <code className="hash">{proof.leafHash}</code>
              </dd>
            </div>
            <div>
              <dt>audit path ({proof.proof.length})</dt>
              <dd>
                <ol className="hashes">
                  {proof.proof.map((h, i) => (
                    <li key={i}>
                      <code className="hash">{h}</code>
                    </li>
                  ))}
                </ol>
              </dd>
            </div>
          </dl>
          <details>
            <summary>Signed checkpoint note</summary>
            <pre>{proof.checkpoint.note}</pre>
          </details>
          {proof.record && (
            <details>
              <summary>Record</summary>
              <pre>{JSON.stringify(proof.record, null, 2)}</pre>
            </details>
          )}
        </>
      )}
    </section>
  );
}
