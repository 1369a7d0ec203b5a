import { useId } from 'react';

export interface Series {
  name: string;
  /** CSS class that sets the stroke colour (styles.css): no inline styles under the CSP. */
  className: string;
  values: (number | null)[];
}

/**
 * A small SVG line chart. The numbers are also given as a visually hidden table so screen
 * readers get the data, not a picture of it.
 */
export function LineChart({ title, times, series, unit = '' }: { title: string; times: number[]; series: Series[]; unit?: string }) {
  const id = useId();
  const W = 560;
  const H = 160;
  const pad = { l: 40, r: 10, t: 10, b: 22 };
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const max = Math.max(1, ...all);
  const x = (i: number) => pad.l + (times.length <= 1 ? 0 : (i * (W - pad.l - pad.r)) / (times.length - 1));
  const y = (v: number) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const fmt = (t: number) => new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
  return (
    <figure className="chart">
      <figcaption id={id}>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={id}>
        <line x1={pad.l} x2={W - pad.r} y1={H - pad.b} y2={H - pad.b} className="axis" />
        <line x1={pad.l} x2={W - pad.r} y1={pad.t} y2={pad.t} className="grid" />
        <text x={pad.l - 6} y={pad.t + 4} className="tick" textAnchor="end">
          {Number.isInteger(max) ? max : max.toFixed(1)}
        </text>
        <text x={pad.l - 6} y={H - pad.b} className="tick" textAnchor="end">
          0
        </text>
        {times.length > 0 && (
          <>
            <text x={pad.l} y={H - 6} className="tick">
              {fmt(times[0]!)}
            </text>
            <text x={W - pad.r} y={H - 6} className="tick" textAnchor="end">
              {fmt(times[times.length - 1]!)}
            </text>
          </>
        )}
        {series.map((s) => {
          const pts = s.values.map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter((p): p is string => p !== null);
          // Dots as well as the line: a single busy minute is still visible.
          return (
            <g key={s.name} className={s.className}>
              <polyline points={pts.join(' ')} className="line" fill="none" />
              {s.values.map((v, i) => (v === null || v === 0 ? null : <circle key={i} cx={x(i)} cy={y(v)} r="3" className="dot" />))}
            </g>
          );
        })}
      </svg>
      <ul className="legend" aria-hidden="true">
        {series.map((s) => (
          <li key={s.name}>
            <span className={`swatch ${s.className}`} /> {s.name}
          </li>
        ))}
      </ul>
      <table className="sr-only">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">time</th>
            {series.map((s) => (
              <th scope="col" key={s.name}>
                {s.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {times.map((t, i) => (
            <tr key={t}>
              <td>{fmt(t)}</td>
              {series.map((s) => (
                <td key={s.name}>{s.values[i] === null ? '—' : `${Number(s.values[i]!.toFixed(2))}${unit}`}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
