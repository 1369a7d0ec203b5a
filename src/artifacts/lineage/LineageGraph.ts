import type { Queryable } from '../../store/index.js';
import { WardenError } from '../../errors/index.js';
import { parseOpenLineageEvent, datasetVersionOf } from './openLineage.js';

export type LineageNodeKind = 'dataset' | 'run' | 'model' | 'deployment';

export interface LineageNode {
  key: string;
  kind: LineageNodeKind;
  name: string;
  attrs: Record<string, unknown>;
  /** Edges from the start node (0 for the start itself). */
  depth?: number;
}

export interface LineageEdge {
  src: string;
  dst: string;
  relation: string;
  source: 'warden' | 'openlineage';
}

/** Node keys: `dataset:NAME[@VERSION]`, `run:RUN_ID`, `model:NAME@VERSION`, `deployment:MODEL`. */
export const lineageKey = {
  dataset: (name: string, version?: string) => `dataset:${name}${version ? `@${version}` : ''}`,
  run: (runId: string) => `run:${runId}`,
  model: (name: string, version: string) => `model:${name}@${version}`,
  deployment: (model: string) => `deployment:${model}`,
};

const MAX_TRAVERSAL_NODES = 10_000;

/**
 * Dataset → training run → model version → deployment, stored as nodes and edges and walked
 * with recursive SQL (UNION stops on cycles). Edges come from Warden's own commands
 * (registration, provenance, promotion) and from OpenLineage run events.
 */
export class LineageGraph {
  constructor(private readonly db: Queryable) {}

  async upsertNode(node: Omit<LineageNode, 'depth'>, tx: Queryable = this.db): Promise<void> {
    await tx.query(
      `INSERT INTO lineage_nodes (key, kind, name, attrs) VALUES ($1, $2, $3, $4::jsonb)
       ON CONFLICT (key) DO UPDATE SET attrs = lineage_nodes.attrs || EXCLUDED.attrs`,
      [node.key, node.kind, node.name, JSON.stringify(node.attrs)],
    );
  }

  async addEdge(edge: LineageEdge, tx: Queryable = this.db): Promise<void> {
    await tx.query(`INSERT INTO lineage_edges (src, dst, relation, source) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, [edge.src, edge.dst, edge.relation, edge.source]);
  }

  async hasNode(key: string, tx: Queryable = this.db): Promise<boolean> {
    return (await tx.query(`SELECT 1 FROM lineage_nodes WHERE key = $1`, [key])).rows.length > 0;
  }

  /**
   * Ingests an OpenLineage RunEvent: job run node, input datasets → run, run → outputs.
   * An output named like a registered model (with a `version` facet) becomes that model version.
   * `isModel(name)` tells registered model names apart from datasets.
   */
  async ingestOpenLineage(event: unknown, isModel: (name: string) => Promise<boolean>, tx: Queryable = this.db): Promise<{ run: string; inputs: string[]; outputs: string[] }> {
    const e = parseOpenLineageEvent(event);
    const run = lineageKey.run(e.run.runId);
    await this.upsertNode(
      { key: run, kind: 'run', name: `${e.job.namespace}/${e.job.name}`, attrs: { job: e.job.name, jobNamespace: e.job.namespace, lastEvent: e.eventType ?? 'OTHER', eventTime: e.eventTime, producer: e.producer } },
      tx,
    );
    const inputs: string[] = [];
    for (const ds of e.inputs) {
      const key = lineageKey.dataset(ds.name, datasetVersionOf(ds));
      await this.upsertNode({ key, kind: 'dataset', name: ds.name, attrs: { namespace: ds.namespace } }, tx);
      await this.linkVersionToDataset(ds.name, key, 'openlineage', tx);
      await this.addEdge({ src: key, dst: run, relation: 'input_to', source: 'openlineage' }, tx);
      inputs.push(key);
    }
    const outputs: string[] = [];
    for (const ds of e.outputs) {
      const version = datasetVersionOf(ds);
      const model = version !== undefined && (await isModel(ds.name));
      const key = model ? lineageKey.model(ds.name, version!) : lineageKey.dataset(ds.name, version);
      await this.upsertNode({ key, kind: model ? 'model' : 'dataset', name: ds.name, attrs: { namespace: ds.namespace } }, tx);
      if (!model) await this.linkVersionToDataset(ds.name, key, 'openlineage', tx);
      await this.addEdge({ src: run, dst: key, relation: 'produced', source: 'openlineage' }, tx);
      outputs.push(key);
    }
    return { run, inputs, outputs };
  }

  /** `dataset:NAME` → `dataset:NAME@V`, so the blast radius of a dataset name covers all its versions. */
  async linkVersionToDataset(name: string, versionKey: string, source: LineageEdge['source'], tx: Queryable = this.db): Promise<void> {
    const base = lineageKey.dataset(name);
    if (base === versionKey) return;
    await this.upsertNode({ key: base, kind: 'dataset', name, attrs: {} }, tx);
    await this.addEdge({ src: base, dst: versionKey, relation: 'version', source }, tx);
  }

  async walk(start: string, direction: 'upstream' | 'downstream'): Promise<{ nodes: LineageNode[]; edges: LineageEdge[] }> {
    if (!(await this.hasNode(start))) throw new WardenError('WARDEN_LINEAGE_NODE_NOT_FOUND', `no lineage node ${start}`);
    const [from, to] = direction === 'downstream' ? ['src', 'dst'] : ['dst', 'src'];
    const reached = await this.db.query<{ key: string; kind: LineageNodeKind; name: string; attrs: Record<string, unknown>; depth: number }>(
      `WITH RECURSIVE walk(key, depth) AS (
         SELECT $1::text, 0
         UNION
         SELECT e.${to}, w.depth + 1 FROM lineage_edges e JOIN walk w ON e.${from} = w.key WHERE w.depth < 64
       )
       SELECT n.key, n.kind, n.name, n.attrs, MIN(w.depth)::int AS depth
       FROM walk w JOIN lineage_nodes n ON n.key = w.key
       GROUP BY n.key, n.kind, n.name, n.attrs
       ORDER BY depth, n.key
       LIMIT ${MAX_TRAVERSAL_NODES}`,
      [start],
    );
    const keys = reached.rows.map((r) => r.key);
    const edges = await this.db.query<LineageEdge>(
      `SELECT src, dst, relation, source FROM lineage_edges WHERE src = ANY($1::text[]) AND dst = ANY($1::text[]) ORDER BY src, dst, relation`,
      [keys],
    );
    return { nodes: reached.rows.map((r) => ({ key: r.key, kind: r.kind, name: r.name, attrs: r.attrs, depth: Number(r.depth) })), edges: edges.rows };
  }
}
