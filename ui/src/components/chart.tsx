// A live line chart (uPlot: canvas, small, fast with thousands of points). The caption says the
// latest values in text, so the chart is not the only way to read them.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesSpec {
  label: string;
  /** A CSS custom property holding the color, e.g. --series-1. */
  colorVar: string;
}

export interface ChartProps {
  id: string;
  title: string;
  unit: string;
  series: SeriesSpec[];
  /** [times in seconds, ...one array per series] */
  data: Array<Array<number | null>>;
  /** Changes when the theme does (colors are read from CSS at creation). */
  theme: string;
  digits?: number;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function Chart({ id, title, unit, series, data, theme, digits = 1 }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : `${v.toFixed(digits)} ${unit}`);

  useEffect(() => {
    const el = host.current!;
    const fg = cssVar('--fg-muted');
    const grid = cssVar('--border');
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 160,
      // From the first point to the last, at least a minute wide (with one point uPlot would
      // otherwise span 86400/ms seconds: years, with times in seconds).
      scales: {
        x: {
          time: true,
          range: (u, min, max) => {
            const xs = u.data[0] ?? [];
            const first = xs[0] ?? min ?? 0;
            const last = xs[xs.length - 1] ?? max ?? 0;
            return [Math.min(first, last - 60), last];
          },
        },
        y: { range: (_u, _min, max) => [0, max !== null && max > 0 ? max * 1.1 : 1] } },
      series: [
        {},
        ...series.map((s) => ({ label: s.label, stroke: cssVar(s.colorVar), width: 2, value: (_u: uPlot, v: number | null) => fmt(v) })),
      ],
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 56 },
      ],
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(opts, data as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 160 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [theme]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  const latest = series.map((s, i) => `${s.label} ${fmt(data[i + 1]?.at(-1) ?? null)}`).join(', ');
  return (
    <figure class="chart" id={id} aria-labelledby={`${id}-title`}>
      <figcaption>
        <span id={`${id}-title`} class="chart-title">
          {title}
        </span>
        <span class="chart-latest" data-latest>
          {latest}
        </span>
      </figcaption>
      <div ref={host} class="chart-canvas" aria-hidden="true" />
    </figure>
  );
}
