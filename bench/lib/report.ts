// bench/results/latest.md: one Markdown table of every figure, quoted by docs/performance.md.
import type { BenchRecord } from './record.ts';

const fmt = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v));

export function renderMarkdown(meta: {
  generatedAt: string; node: string; cpus: number; quick: boolean; loadavg1: { min: number; max: number }; runs: number; runMs: number; seconds: number;
  merged?: { suites: string[]; generatedAt: string; quick: boolean; loadavg1: { min: number; max: number } }[];
}, records: readonly BenchRecord[]): string {
  const lines = [
    `# nitrolab benchmark results`,
    '',
    `${meta.generatedAt} · Node ${meta.node} · ${meta.cpus} CPUs · ${meta.quick ? 'quick' : 'full'} run (${meta.runs} runs of ${meta.runMs} ms after a warm-up, medians) · ` +
      `1-min load average ${meta.loadavg1.min.toFixed(1)}–${meta.loadavg1.max.toFixed(1)} during the run · ${meta.seconds} s`,
    '',
    ...(meta.merged ?? []).map((m) => `Merged later (\`--merge\`): ${m.suites.join(', ')} — ${m.generatedAt}, ${m.quick ? 'quick' : 'full'}, ` +
      `load ${m.loadavg1.min.toFixed(1)}–${m.loadavg1.max.toFixed(1)}; their limits were measured in that run and are quoted in their Limit column.`),
    ...(meta.merged?.length ? [''] : []),
    'Limits are measured in the same run (`limit.*` rows). Ratio = value / limit.',
    '',
    '| Figure | Transport | Value | Unit | min–max | Limit | Ratio | Note |',
    '|---|---|---:|---|---|---|---:|---|',
  ];
  for (const r of records) {
    lines.push(`| ${r.name} | ${r.transport} | ${fmt(r.value)} | ${r.unit} | ${r.runs > 1 ? `${fmt(r.min)}–${fmt(r.max)}` : ''} | ` +
      `${r.limit ? `${r.limit.name} = ${fmt(r.limit.value)}` : ''} | ${r.ratio === null ? '' : r.ratio.toFixed(3)} | ${r.note ?? ''} |`);
  }
  return lines.join('\n') + '\n';
}
