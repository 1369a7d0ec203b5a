import { useEffect, useState, type FormEvent } from 'react';
import { useApi } from '../api/ApiContext.js';
import { ApiError } from '../api/client.js';
import type { AnalysisReport, Explanation, PolicySet } from '../api/types.js';
import { usePoll } from '../lib/usePoll.js';
import { shortTime } from '../lib/time.js';
import { EmptyState } from '../components/EmptyState.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Badge, severityTone } from '../components/Badge.js';
import { TableHead } from '../components/TableHead.js';

export function Policies() {
  const api = useApi();
  const current = usePoll(async () => {
    try {
      return await api.get<PolicySet>('/policies');
    } catch (err) {
      if (err instanceof ApiError && err.code === 'WARDEN_POLICY_NONE') return null;
      throw err;
    }
  }, [], 10_000);
  const analysis = usePoll(() => api.get<AnalysisReport>('/policies/analyze'), [], 30_000);

  const [text, setText] = useState('');
  const [edited, setEdited] = useState(false);
  useEffect(() => {
    if (!edited && current.data) setText(current.data.policies);
  }, [current.data, edited]);

  const [check, setCheck] = useState<{ ok: true; policyCount: number } | { ok: false; error: Error } | null>(null);
  const validate = async () => {
    try {
      const r = await api.post<{ ok: true; policyCount: number }>('/policies/check', { policies: text });
      setCheck(r);
    } catch (err) {
      setCheck({ ok: false, error: err as Error });
    }
  };

  return (
    <>
      <section aria-labelledby="text-h">
        <h2 id="text-h">Published policy set</h2>
        <ErrorNote error={current.error} />
        {current.data === null && <EmptyState title="No policy set is published yet; every request is denied." command="npx warden policy push examples/policies/demo.cedar" />}
        {current.data && (
          <p>
            Version <strong>{current.data.version}</strong> by {current.data.author}, {shortTime(current.data.createdAt)} · {current.data.policyCount} policies · digest <code className="hash">{current.data.digest.slice(0, 23)}</code>
          </p>
        )}
        <label htmlFor="policy-text">Policy text (edit to validate or to try a what-if below; publishing stays with <code>warden policy push</code>)</label>
        <textarea
          id="policy-text"
          rows={14}
          spellCheck={false}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setEdited(true);
            setCheck(null);
          }}
        />
        <div className="row">
          <button type="button" onClick={() => void validate()}>
            Validate
          </button>
          {edited && (
            <button
              type="button"
              onClick={() => {
                setEdited(false);
                setCheck(null);
                if (current.data) setText(current.data.policies);
              }}
            >
              Reset to published
            </button>
          )}
        </div>
        <div role="status" data-testid="validation">
          {check?.ok === true && <Badge tone="good">✓ valid: {check.policyCount} policies</Badge>}
          {check?.ok === false && <ErrorNote error={check.error} />}
        </div>
      </section>

      <Playground whatIf={edited ? text : null} />

      <section aria-labelledby="analyze-h">
        <h2 id="analyze-h">Analyzer findings</h2>
        <ErrorNote error={analysis.error instanceof ApiError && analysis.error.code === 'WARDEN_POLICY_NONE' ? undefined : analysis.error} />
        {analysis.data && analysis.data.findings.length === 0 && <EmptyState title="No findings: no wildcards, no unconditional access to sensitive resources, every grant used." />}
        {analysis.data && analysis.data.findings.length > 0 && (
          <table>
            <TableHead columns={['Severity', 'Rule', 'Policy', 'Finding']} />
            <tbody>
              {analysis.data.findings.map((f, i) => (
                <tr key={i}>
                  <td>
                    <Badge tone={severityTone(f.severity)}>{f.severity}</Badge>
                  </td>
                  <td>{f.rule}</td>
                  <td>{f.policyId ?? '—'}</td>
                  <td>{f.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

/** POST /policies/explain: the decision and the policies that determined it. */
function Playground({ whatIf }: { whatIf: string | null }) {
  const api = useApi();
  const [principal, setPrincipal] = useState('ApiKey::"demo"');
  const [action, setAction] = useState('invoke');
  const [resource, setResource] = useState('Model::"iris"');
  const [context, setContext] = useState('{}');
  const [result, setResult] = useState<Explanation | null>(null);
  const [error, setError] = useState<Error>();

  const run = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setResult(null);
    let ctx: unknown;
    try {
      ctx = JSON.parse(context || '{}');
    } catch {
      setError(new Error('context must be JSON, e.g. {"region":"eu-west-1"}'));
      return;
    }
    try {
      setResult(await api.post<Explanation>('/policies/explain', { principal, action, resource, context: ctx, ...(whatIf !== null ? { policies: whatIf } : {}) }));
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <section aria-labelledby="play-h">
      <h2 id="play-h">Decision playground</h2>
      <p className="help">{whatIf !== null ? 'Evaluating against your edited text (what-if), not the published set.' : 'Evaluating against the published set.'}</p>
      <form onSubmit={run} className="grid-form">
        <label htmlFor="pg-principal">Principal</label>
        <input id="pg-principal" value={principal} onChange={(e) => setPrincipal(e.target.value)} spellCheck={false} />
        <label htmlFor="pg-action">Action</label>
        <input id="pg-action" value={action} onChange={(e) => setAction(e.target.value)} spellCheck={false} />
        <label htmlFor="pg-resource">Resource</label>
        <input id="pg-resource" value={resource} onChange={(e) => setResource(e.target.value)} spellCheck={false} />
        <label htmlFor="pg-context">Context (JSON)</label>
        <input id="pg-context" value={context} onChange={(e) => setContext(e.target.value)} spellCheck={false} />
        <span />
        <button type="submit">Explain decision</button>
      </form>
      <ErrorNote error={error} />
      {result && (
        <div className="card" data-testid="decision">
          <p>
            <Badge tone={result.decision === 'allow' ? 'good' : 'bad'}>{result.decision}</Badge> {result.reason} · policy set {result.policyVersion}
          </p>
          {result.determining.length === 0 && <p>No policy applies, so Cedar denies by default.</p>}
          {result.determining.map((p) => (
            <div key={p.id} className="determining">
              <p>
                <strong>{p.id}</strong> ({p.effect})
              </p>
              <pre>{p.text}</pre>
            </div>
          ))}
          {result.errors.map((e) => (
            <p key={e.policyId} className="error">
              {e.policyId}: {e.message}
            </p>
          ))}
        </div>
      )}
    </section>
  );
}
