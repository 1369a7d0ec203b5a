import type { LineageEdge, LineageKind, LineageNode } from '../api/types.js';

export interface PlacedNode extends LineageNode {
  x: number;
  y: number;
  column: number;
}

export const COLUMN_ORDER: readonly LineageKind[] = ['dataset', 'run', 'model', 'deployment'];

/** Merges walks (upstream + downstream) into one graph, dropping duplicate nodes and edges. */
export function mergeGraphs(...graphs: { nodes: LineageNode[]; edges: LineageEdge[] }[]): { nodes: LineageNode[]; edges: LineageEdge[] } {
  const nodes = new Map<string, LineageNode>();
  const edges = new Map<string, LineageEdge>();
  for (const g of graphs) {
    for (const n of g.nodes) if (!nodes.has(n.key)) nodes.set(n.key, n);
    for (const e of g.edges) edges.set(`${e.src}\u0000${e.dst}\u0000${e.relation}`, e);
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

/**
 * Columns by kind (dataset → run → model → deployment) because that is the story a reader
 * follows; a dataset derived from another dataset moves one column right of its source.
 */
export function layoutLineage(nodes: readonly LineageNode[], edges: readonly LineageEdge[], size: { columnWidth: number; rowHeight: number; margin: number }): { nodes: PlacedNode[]; width: number; height: number } {
  const column = new Map<string, number>();
  for (const n of nodes) column.set(n.key, COLUMN_ORDER.indexOf(n.kind) * 2);
  // Push targets right of their sources (bounded passes: cycles must not loop forever).
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of edges) {
      const s = column.get(e.src);
      const d = column.get(e.dst);
      if (s !== undefined && d !== undefined && d <= s) {
        column.set(e.dst, s + 1);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const used = [...new Set(column.values())].sort((a, b) => a - b);
  const dense = new Map(used.map((c, i) => [c, i]));
  const rows = new Map<number, number>();
  const placed: PlacedNode[] = [...nodes]
    .sort((a, b) => (column.get(a.key)! - column.get(b.key)!) || a.key.localeCompare(b.key))
    .map((n) => {
      const c = dense.get(column.get(n.key)!)!;
      const row = rows.get(c) ?? 0;
      rows.set(c, row + 1);
      return { ...n, column: c, x: size.margin + c * size.columnWidth, y: size.margin + row * size.rowHeight };
    });
  const maxRows = Math.max(1, ...rows.values());
  return { nodes: placed, width: size.margin * 2 + Math.max(1, used.length) * size.columnWidth, height: size.margin * 2 + maxRows * size.rowHeight };
}
