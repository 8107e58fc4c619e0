/**
 * A time chart over uPlot. Its headline figure, beside the title, is the latest total of the series (rates:
 * the total per second) or the latest value of the first series (gauges of different things: contacts and
 * users). The figure element carries it as attributes, for people and tests alike: `data-last-value` and
 * `data-max-value` (the largest in the window), with `data-points`.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesSpec {
  label: string;
  color: string;
}

/** Colours that stay apart on white. */
export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
  '#393b79',
  '#637939',
  '#8c6d31',
  '#843c39',
  '#7b4173',
];

const HEIGHT = 200;

/** Puts the latest values in the legend when the cursor is not on the plot. */
function showLatest(u: uPlot): void {
  const points = u.data[0].length;
  if (u.cursor.idx == null && points > 0) u.setLegend({ idx: points - 1 }, false);
}

function format(value: number, decimals: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
}

/** What the headline shows: the sum of the series, or the first series. */
export type Headline = 'sum' | 'first';

/** The headline value at point `i` (absent values count as 0). */
function headlineAt(data: AlignedData, i: number, headline: Headline): number {
  if (headline === 'first') return (data[1]?.[i] as number | null | undefined) ?? 0;
  let sum = 0;
  for (let s = 1; s < data.length; s++) sum += (data[s]![i] as number | null | undefined) ?? 0;
  return sum;
}

export function Chart({
  title,
  unit,
  series,
  data,
  decimals = 1,
  headline = 'sum',
}: {
  title: string;
  unit: string;
  series: readonly SeriesSpec[];
  /** [unix seconds[], series 1[], series 2[], ...] */
  data: AlignedData;
  decimals?: number;
  headline?: Headline;
}) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  // the chart is created once per set of series; data changes only call setData
  const key = series.map((s) => s.label).join('|');
  useEffect(() => {
    const element = holder.current!;
    const options: Options = {
      width: Math.max(element.clientWidth, 300),
      height: HEIGHT,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max)] } },
      axes: [{}, { label: unit, size: 60 }],
      // the legend shows the latest values unless the cursor points at others
      hooks: { setCursor: [showLatest] },
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v, decimals)),
        })),
      ],
    };
    const chart = new uPlot(options, data, element);
    plot.current = chart;
    const resize = new ResizeObserver(() => {
      chart.setSize({ width: Math.max(element.clientWidth, 300), height: HEIGHT });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // recreated only when the series change; data goes through setData
  }, [key]);

  useEffect(() => {
    if (plot.current === null) return;
    plot.current.setData(data);
    showLatest(plot.current);
  }, [data]);

  const points = data[0].length;
  const last = points === 0 ? 0 : headlineAt(data, points - 1, headline);
  let max = 0;
  for (let i = 0; i < points; i++) max = Math.max(max, headlineAt(data, i, headline));
  return (
    <figure
      class="chart"
      data-title={title}
      data-last-value={String(last)}
      data-max-value={String(max)}
      data-points={points}
    >
      <figcaption>
        <span class="chart-title">{title}</span>
        <span class="chart-value">{points === 0 ? '…' : `${format(last, decimals)} ${unit}`}</span>
      </figcaption>
      <div ref={holder} class="chart-plot" />
    </figure>
  );
}
