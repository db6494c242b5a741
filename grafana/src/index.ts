/** Every dashboard, built and rendered to the JSON committed in grafana/dashboards/. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { conversationsView } from './conversations.js';
import { exporterHealth } from './exporter.js';
import { fleetOverview } from './fleet.js';
import { phoneNumberView } from './phone-number.js';
import { providerView } from './provider.js';
import { spendView } from './spend.js';
import { templatesView } from './templates.js';

interface PanelLike {
  id?: number;
  panels?: PanelLike[];
}

/** Stable panel ids (Grafana would otherwise assign them on import), so panel links survive regeneration. */
function numberPanels(d: dashboard.Dashboard): dashboard.Dashboard {
  let next = 1;
  const visit = (panels: PanelLike[] | undefined): void => {
    for (const p of panels ?? []) {
      p.id = next++;
      visit(p.panels);
    }
  };
  visit(d.panels as PanelLike[] | undefined);
  return d;
}

export function buildDashboards(): dashboard.Dashboard[] {
  return [fleetOverview(), phoneNumberView(), templatesView(), conversationsView(), exporterHealth(), spendView(), providerView()].map((b) =>
    numberPanels(b.build()),
  );
}

/** File name (`<uid>.json`) to pretty JSON text (2-space indent, trailing newline). */
export function renderDashboards(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const d of buildDashboards()) {
    if (!d.uid) throw new Error(`dashboard "${d.title}" has no uid`);
    const name = `${d.uid}.json`;
    if (name in files) throw new Error(`two dashboards share the uid ${d.uid}`);
    files[name] = `${JSON.stringify(d, null, 2)}\n`;
  }
  return files;
}
