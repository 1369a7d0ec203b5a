import { useMemo, useRef, type KeyboardEvent } from 'react';
import type { LineageEdge, LineageNode } from '../api/types.js';
import { layoutLineage, type PlacedNode } from '../lib/lineageLayout.js';

const SIZE = { columnWidth: 220, rowHeight: 64, margin: 16 };
const NODE_W = 180;
const NODE_H = 44;

/**
 * Dataset → run → model → deployment as SVG. Every node is a focusable button: Tab walks the
 * nodes, arrow keys follow edges (→ downstream, ← upstream, ↑↓ within a column), Enter selects.
 */
export function LineageGraph({ nodes, edges, selected, highlighted, onSelect }: { nodes: LineageNode[]; edges: LineageEdge[]; selected: string | null; highlighted: ReadonlySet<string>; onSelect: (key: string) => void }) {
  const layout = useMemo(() => layoutLineage(nodes, edges, SIZE), [nodes, edges]);
  const byKey = useMemo(() => new Map(layout.nodes.map((n) => [n.key, n])), [layout]);
  const refs = useRef(new Map<string, SVGGElement>());

  const focus = (key: string | undefined) => {
    if (key) refs.current.get(key)?.focus();
  };
  const onKey = (n: PlacedNode, e: KeyboardEvent<SVGGElement>) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      onSelect(n.key);
    } else if (e.key === 'ArrowRight') {
      e.preventDefault();
      focus(edges.find((x) => x.src === n.key)?.dst);
    } else if (e.key === 'ArrowLeft') {
      e.preventDefault();
      focus(edges.find((x) => x.dst === n.key)?.src);
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const col = layout.nodes.filter((m) => m.column === n.column);
      const i = col.findIndex((m) => m.key === n.key) + (e.key === 'ArrowDown' ? 1 : -1);
      focus(col[i]?.key);
    }
  };

  return (
    <svg className="lineage" viewBox={`0 0 ${layout.width} ${layout.height}`} width={layout.width} height={layout.height} role="group" aria-label="Lineage graph">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" className="arrowhead" />
        </marker>
      </defs>
      {edges.map((e) => {
        const s = byKey.get(e.src);
        const d = byKey.get(e.dst);
        if (!s || !d) return null;
        const x1 = s.x + NODE_W;
        const y1 = s.y + NODE_H / 2;
        const x2 = d.x;
        const y2 = d.y + NODE_H / 2;
        const mid = (x1 + x2) / 2;
        const hot = highlighted.has(e.src) && highlighted.has(e.dst);
        return <path key={`${e.src}>${e.dst}>${e.relation}`} d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} className={hot ? 'edge edge-hot' : 'edge'} markerEnd="url(#arrow)" />;
      })}
      {layout.nodes.map((n) => {
        const classes = ['node', `node-${n.kind}`, highlighted.has(n.key) ? 'node-hot' : '', selected === n.key ? 'node-selected' : ''].filter(Boolean).join(' ');
        return (
          <g
            key={n.key}
            ref={(el) => {
              if (el) refs.current.set(n.key, el);
              else refs.current.delete(n.key);
            }}
            className={classes}
            transform={`translate(${n.x},${n.y})`}
            tabIndex={0}
            role="button"
            aria-pressed={selected === n.key}
            data-key={n.key}
            onClick={() => onSelect(n.key)}
            onKeyDown={(e) => onKey(n, e)}
          >
            <rect width={NODE_W} height={NODE_H} rx="8" />
            <text x="10" y="17" className="node-kind">
              {n.kind}
            </text>
            <text x="10" y="34" className="node-name">
              {truncate(n.key.replace(/^[a-z]+:/, ''), 24)}
            </text>
            {highlighted.has(n.key) && (
              <text x={NODE_W - 8} y="17" className="node-flag" textAnchor="end">
                blast radius
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
