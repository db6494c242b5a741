import {
  EARLY_WARNING_THRESHOLDS, MIN_BAD_LIST_ERRORS, MIN_STOPS, type EarlyWarningThresholds, type RiskComponent,
} from '../domain/early-warning.js';

/**
 * A number's early-warning components and level, computed as prometheus/recording-rules.yaml computes
 * them (whatsapp:early_warning_*), from counts over the same windows: the status page shows numbers at
 * risk without Prometheus, and with the same thresholds (domain/early-warning.ts) as the alerts.
 */

/** What the windows give: counts of the number's signals between two Unix times. */
export interface RiskCounts {
  /** Sum of `input` over [from, to). */
  sum(input: RiskInput, from: number, to: number): number;
  /** Unix seconds of the first count this process holds for the number (history length). */
  since: number;
}

/** The signals the components read, as the rules' counters. */
export type RiskInput =
  | 'biDelivered' // business-initiated delivered
  | 'biRead' // business-initiated read
  | 'sends' // sent + failed, any category
  | 'stops' // user_preferences stop + error 131050
  | 'badList' // errors 131026 + 131047
  | 'biSent' // business-initiated sends (recipients)
  | 'firstTime'; // of those, customers first reached

export interface ComponentAssessment {
  component: RiskComponent;
  level: 0 | 1 | 2;
  /** The component's value (per 1,000, a share, a ratio); undefined without enough traffic to judge. */
  value?: number;
  /** Plain words for the page: what the value is. */
  detail: string;
}

export interface RiskAssessment {
  level: 0 | 1 | 2;
  components: ComponentAssessment[];
}

const H = 3600;
const DAY = 86400;

const levelOf = (v: number | undefined, watch: number, atRisk: number): 0 | 1 | 2 =>
  v === undefined ? 0 : ((Number(v >= watch) + Number(v >= atRisk)) as 0 | 1 | 2);

const per1000 = (v: number) => `${v.toFixed(1)} per 1,000`;
const pct = (v: number) => `${Math.round(v * 100)} %`;

export function assessRisk(counts: RiskCounts, now: number, t: EarlyWarningThresholds = EARLY_WARNING_THRESHOLDS): RiskAssessment {
  const min = t.min_volume;
  const sum = (input: RiskInput, from: number, to: number) => counts.sum(input, from, to);

  // Marketing stops per 1,000 business-initiated delivered, 6 h.
  const delivered6h = sum('biDelivered', now - 6 * H, now);
  const stops6h = sum('stops', now - 6 * H, now);
  const stopsRate = delivered6h >= min ? (1000 * (stops6h >= MIN_STOPS ? stops6h : 0)) / delivered6h : undefined;

  // 131026 + 131047 per 1,000 sends, 6 h.
  const sends6h = sum('sends', now - 6 * H, now);
  const bad6h = sum('badList', now - 6 * H, now);
  const badRate = sends6h >= min ? (1000 * (bad6h >= MIN_BAD_LIST_ERRORS ? bad6h : 0)) / sends6h : undefined;

  // Read rate of the 24 h ending 6 h ago against the 7 days before the last day; after 30 h of history.
  const d24 = sum('biDelivered', now - 30 * H, now - 6 * H);
  const r24 = counts.since <= now - 30 * H && d24 >= min ? sum('biRead', now - 30 * H, now - 6 * H) / d24 : undefined;
  const d7 = sum('biDelivered', now - 8 * DAY, now - DAY);
  const r7 = d7 >= min ? sum('biRead', now - 8 * DAY, now - DAY) / d7 : undefined;
  const slide = r24 !== undefined && r7 !== undefined && r7 > 0 ? Math.max(0, 1 - r24 / r7) : undefined;

  // Sends in 3 h against the busiest 3 h of the week before (hourly steps); after a day of history.
  const sent3h = sum('biSent', now - 3 * H, now);
  let busiest = 0;
  for (let end = now - 3 * H; end > now - 3 * H - 7 * DAY; end -= H) busiest = Math.max(busiest, sum('biSent', end - 3 * H, end));
  const shock = counts.since <= now - DAY && sent3h >= min && busiest > 0 ? sent3h / busiest : undefined;
  const firstShare = sent3h >= min ? sum('firstTime', now - 3 * H, now) / sent3h : undefined;
  const shockLevel = (shock !== undefined && shock >= t.volume_shock_watch ? (firstShare !== undefined && firstShare >= t.first_time_share_at_risk ? 2 : 1) : 0) as 0 | 1 | 2;

  const components: ComponentAssessment[] = [
    {
      component: 'marketing_stops', level: levelOf(stopsRate, t.stops_per_1000_watch, t.stops_per_1000_at_risk), ...(stopsRate !== undefined ? { value: stopsRate } : {}),
      detail: stopsRate === undefined ? 'too few delivered to judge' : `${per1000(stopsRate)} delivered stopped marketing (6 h; watch ${t.stops_per_1000_watch}, at risk ${t.stops_per_1000_at_risk})`,
    },
    {
      component: 'bad_list', level: levelOf(badRate, t.bad_list_per_1000_watch, t.bad_list_per_1000_at_risk), ...(badRate !== undefined ? { value: badRate } : {}),
      detail: badRate === undefined ? 'too few sends to judge' : `${per1000(badRate)} sends failed 131026/131047 (6 h; watch ${t.bad_list_per_1000_watch}, at risk ${t.bad_list_per_1000_at_risk})`,
    },
    {
      component: 'read_slide', level: levelOf(slide, t.read_slide_watch, t.read_slide_at_risk), ...(slide !== undefined ? { value: slide } : {}),
      detail: slide === undefined ? 'no 7-day baseline yet' : `read rate ${pct(r24!)} against its own ${pct(r7!)}: down ${pct(slide)} (watch ${pct(t.read_slide_watch)}, at risk ${pct(t.read_slide_at_risk)})`,
    },
    {
      component: 'volume_shock', level: shockLevel, ...(shock !== undefined ? { value: shock } : {}),
      detail: shock === undefined ? 'no volume baseline yet' : `${shock.toFixed(1)}× the busiest 3 h of the week before, ${pct(firstShare ?? 0)} first-time customers (watch ${t.volume_shock_watch}×; at risk with ${pct(t.first_time_share_at_risk)} first-time)`,
    },
  ];
  const worst = Math.max(...components.map((c) => c.level));
  const watched = components.filter((c) => c.level >= 1).length;
  return { level: Math.min(2, worst + (watched >= 2 ? 1 : 0)) as 0 | 1 | 2, components };
}
