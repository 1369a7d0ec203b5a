import { useEffect, useMemo, useState } from 'react';
import { useApi } from '../api/ApiContext.js';
import type { ArtifactSummary, ArtifactVersion, BlastRadius, LineageEdge, LineageNode } from '../api/types.js';
import { usePoll } from '../lib/usePoll.js';
import { mergeGraphs } from '../lib/lineageLayout.js';
import { shortTime } from '../lib/time.js';
import { LineageGraph } from '../components/LineageGraph.js';
import { EmptyState } from '../components/EmptyState.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Badge, type Tone } from '../components/Badge.js';
import { TableHead } from '../components/TableHead.js';

const STAGE_TONE: Record<string, Tone> = { candidate: 'info', approved: 'warn', serving: 'good', retired: 'muted' };

/** Short names for the predicate types Warden attaches; unknown ones keep their last path segments. */
function predicateLabel(uri: string): string {
  if (uri.includes('slsa.dev/provenance')) return 'provenance';
  if (uri.includes('model-scan')) return 'scan';
  if (uri.includes('approval')) return 'approval';
  if (uri.includes('manifest') || uri.includes('model_signing') || uri.includes('signature')) return 'signed manifest';
  return uri.split('/').filter(Boolean).slice(-2).join('/');
}

/** Lineage start for an artifact: a model's latest version, a dataset as a whole. */
function lineageRef(a: ArtifactSummary): string {
  return a.kind === 'model' && a.latest ? `${a.name}@${a.latest}` : a.name;
}

export function Models() {
  const api = useApi();
  const list = usePoll(() => api.get<{ artifacts: ArtifactSummary[] }>('/artifacts'), [], 10_000);
  const artifacts = list.data?.artifacts ?? [];
  const [chosen, setChosen] = useState<string | null>(null);
  useEffect(() => {
    if (chosen === null && artifacts.length > 0) setChosen((artifacts.find((a) => a.kind === 'dataset') ?? artifacts[0]!).name);
  }, [artifacts, chosen]);
  const artifact = artifacts.find((a) => a.name === chosen) ?? null;

  return (
    <>
      <section aria-labelledby="reg-h">
        <h2 id="reg-h">Registry</h2>
        <ErrorNote error={list.error} />
        {list.data && artifacts.length === 0 ? (
          <EmptyState title="No models or datasets registered yet." command="npx warden artifact add ./data --kind dataset --name train --version 1 && npx warden artifact add ./model --name iris --version 1 --run run-1 --input train@1" />
        ) : (
          <table data-testid="artifacts">
            <TableHead columns={['Name', 'Kind', 'Versions', 'Latest', 'Serving']} actions="Lineage" />
            <tbody>
              {artifacts.map((a) => (
                <tr key={a.name} className={a.name === chosen ? 'selected' : undefined}>
                  <td>{a.name}</td>
                  <td>{a.kind}</td>
                  <td>{a.versions}</td>
                  <td>{a.latest ?? '—'}</td>
                  <td>{a.serving ?? '—'}</td>
                  <td>
                    <button type="button" onClick={() => setChosen(a.name)} aria-pressed={a.name === chosen} aria-label={`Show ${a.name} versions and lineage`}>
                      Lineage
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {artifact && <ArtifactDetail key={artifact.name} artifact={artifact} />}
    </>
  );
}

function ArtifactDetail({ artifact }: { artifact: ArtifactSummary }) {
  const api = useApi();
  const versions = usePoll(() => api.get<{ name: string; versions: ArtifactVersion[] }>(`/artifacts/${encodeURIComponent(artifact.name)}`), [artifact.name], 10_000);
  const ref = lineageRef(artifact);
  const graph = usePoll(async () => {
    const enc = encodeURIComponent(ref);
    const [down, up] = await Promise.all([
      api.get<{ nodes: LineageNode[]; edges: LineageEdge[] }>(`/lineage/${enc}`, { direction: 'downstream' }),
      api.get<{ nodes: LineageNode[]; edges: LineageEdge[] }>(`/lineage/${enc}`, { direction: 'upstream' }),
    ]);
    return mergeGraphs(up, down);
  }, [ref], 10_000);
  const [selected, setSelected] = useState<string | null>(null);
  const [blast, setBlast] = useState<BlastRadius | null>(null);
  const [blastError, setBlastError] = useState<Error>();
  const node = graph.data?.nodes.find((n) => n.key === selected) ?? null;

  const highlighted = useMemo(() => {
    if (!blast) return new Set<string>();
    return new Set([blast.dataset, ...blast.runs, ...blast.datasets, ...blast.models, ...blast.deployments].map((n) => (typeof n === 'string' ? n : n.key)));
  }, [blast]);

  const showBlast = async (datasetKey: string) => {
    setBlastError(undefined);
    try {
      setBlast(await api.get<BlastRadius>(`/artifacts/${encodeURIComponent(datasetKey.replace(/^dataset:/, ''))}/blast-radius`));
    } catch (err) {
      setBlastError(err as Error);
    }
  };

  return (
    <>
      <section aria-labelledby="ver-h">
        <h2 id="ver-h">{artifact.name}: versions</h2>
        <ErrorNote error={versions.error} />
        <table>
          <TableHead columns={['Version', 'Stage', 'Digest', 'Signatures', 'Registered']} />
          <tbody>
            {(versions.data?.versions ?? []).map((v) => (
              <tr key={v.id}>
                <td>{v.version}</td>
                <td>{v.revoked ? <Badge tone="bad">revoked: {v.revokedReason}</Badge> : <Badge tone={STAGE_TONE[v.stage] ?? 'info'}>{v.stage}</Badge>}</td>
                <td>
                  <code className="hash">{v.digest.slice(0, 23)}</code>
                </td>
                <td>
                  {v.attestations.length === 0 ? (
                    <Badge tone="warn">unsigned</Badge>
                  ) : (
                    v.attestations.map((a) => (
                      <span key={a.id} className="att">
                        <Badge tone="good">✓ {predicateLabel(a.predicateType)}</Badge> <span className="muted">by {a.signer.spiffeId ?? `key ${a.signer.keyId.slice(0, 12)}`}</span>
                      </span>
                    ))
                  )}
                </td>
                <td>{shortTime(v.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="lin-h">
        <h2 id="lin-h">Lineage</h2>
        <p className="help">Dataset → run → model → deployment. Tab to a node, arrow keys follow edges, Enter selects. Select a dataset to see its blast radius.</p>
        <ErrorNote error={graph.error} />
        {graph.data && graph.data.nodes.length <= 1 && <EmptyState title="Nothing is linked to this artifact yet." command={`npx warden artifact add ./model --name my-model --version 1 --run run-1 --input ${artifact.name}@${artifact.latest ?? '1'}`} />}
        {graph.data && graph.data.nodes.length > 0 && (
          <div className="graph-wrap">
            <LineageGraph
              nodes={graph.data.nodes}
              edges={graph.data.edges}
              selected={selected}
              highlighted={highlighted}
              onSelect={(k) => {
                setSelected(k);
                if (!k.startsWith('dataset:')) return;
                void showBlast(k);
              }}
            />
          </div>
        )}
        <ErrorNote error={blastError} />
        {node && (
          <div className="card" data-testid="node-detail" aria-live="polite">
            <p>
              <strong>{node.kind}</strong> <code>{node.key}</code>
            </p>
            {Object.keys(node.attrs).length > 0 && (
              <dl className="attrs">
                {Object.entries(node.attrs).map(([k, v]) => (
                  <div key={k}>
                    <dt>{k}</dt>
                    <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
                  </div>
                ))}
              </dl>
            )}
            {blast && node.kind === 'dataset' && (
              <div data-testid="blast-radius">
                <p>
                  Blast radius of <code>{blast.dataset}</code>: {blast.models.length} model version(s), {blast.runs.length} run(s), {blast.deployments.length} deployment(s).
                </p>
                <ul>
                  {blast.models.map((m) => (
                    <li key={m.key}>
                      {m.key.replace(/^model:/, '')} {m.stage && <Badge tone={STAGE_TONE[m.stage] ?? 'info'}>{m.stage}</Badge>} {m.revoked && <Badge tone="bad">revoked</Badge>}
                    </li>
                  ))}
                  {blast.deployments.map((d) => (
                    <li key={d.key}>
                      {d.key} serving {d.servingVersion ?? 'nothing'} {d.servingAffected && <Badge tone="bad">affected</Badge>}
                    </li>
                  ))}
                </ul>
              </div>
            )}
          </div>
        )}
      </section>
    </>
  );
}
