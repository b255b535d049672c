import { percent } from '../ui.tsx';

/**
 * The managed share day by day on a fixed 0–100 % scale (a share's movement is only honest against
 * the whole scale), with a dot per snapshot, gridlines and the first and last day. Screen readers
 * get the values as a table.
 */
export function ShareTrend({ points, label }: { points: { day: string; share: number }[]; label: string }) {
  if (points.length === 0) return <p className="muted">No snapshot yet: one is taken after every governance sweep and once a day.</p>;
  const w = 480;
  const h = 120;
  const left = 34;
  const bottom = 18;
  const x = (i: number) => (points.length === 1 ? left + (w - left) / 2 : left + (i / (points.length - 1)) * (w - left - 6));
  const y = (v: number) => 6 + (1 - v) * (h - bottom - 6);
  const last = points[points.length - 1]!;
  return (
    <figure className="sparkline" style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${label}: ${points.length} days, from ${percent(points[0]!.share)} on ${points[0]!.day} to ${percent(last.share)} on ${last.day}`} style={{ maxWidth: '100%', width: '100%' }}>
        {[0, 0.5, 1].map((g) => (
          <g key={g}>
            <line x1={left} x2={w} y1={y(g)} y2={y(g)} stroke="var(--border)" strokeWidth="1" />
            <text x={left - 4} y={y(g) + 4} textAnchor="end" fontSize="10" fill="var(--muted)">
              {g * 100}%
            </text>
          </g>
        ))}
        {points.length > 1 ? (
          <>
            <polygon
              points={`${x(0)},${y(0)} ${points.map((p, i) => `${x(i).toFixed(1)},${y(p.share).toFixed(1)}`).join(' ')} ${x(points.length - 1)},${y(0)}`}
              fill="currentColor"
              opacity="0.12"
            />
            <polyline fill="none" stroke="currentColor" strokeWidth="2" points={points.map((p, i) => `${x(i).toFixed(1)},${y(p.share).toFixed(1)}`).join(' ')} />
          </>
        ) : null}
        {points.map((p, i) => (
          <circle key={p.day} cx={x(i)} cy={y(p.share)} r={points.length > 40 ? 1.5 : 2.5} fill="currentColor" />
        ))}
        <text x={left} y={h - 3} fontSize="10" fill="var(--muted)">
          {points[0]!.day}
        </text>
        {points.length > 1 ? (
          <text x={w} y={h - 3} fontSize="10" fill="var(--muted)" textAnchor="end">
            {last.day}
          </text>
        ) : null}
      </svg>
      <table className="visually-hidden">
        <caption>{label}</caption>
        <tbody>
          {points.map((p) => (
            <tr key={p.day}>
              <th scope="row">{p.day}</th>
              <td>{percent(p.share)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
