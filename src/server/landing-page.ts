/** The page at / when no status page is wired: where to go next. */
export function renderLandingPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>whatsapp-exporter</title></head>
<body><h1>whatsapp-exporter</h1>
<ul>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="/report/funnels">/report/funnels</a>: funnel and A/B report</li>
<li><a href="/deadletters">/deadletters</a>: webhook changes that did not fit their schema</li>
<li><a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a>: probes</li>
</ul></body></html>
`;
}
