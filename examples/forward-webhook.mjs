// The app that owns Meta's callback URL passes every webhook on to whatsapp-exporter unchanged:
// the exact bytes Meta signed and its X-Hub-Signature-256 header. The exporter checks the
// signature with this app's secret (add it to WHATSAPP_APP_SECRET).
import express from 'express';

/** Forwards one webhook; resolves to the exporter's HTTP status, or undefined when unreachable. */
export async function forwardToExporter(rawBody, signature, exporterUrl) {
  try {
    const res = await fetch(exporterUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signature ? { 'x-hub-signature-256': signature } : {}) },
      body: rawBody,
      signal: AbortSignal.timeout(5000),
    });
    return res.status;
  } catch {
    return undefined;
  }
}

/** Your webhook route; `handle` is what the app did before with the parsed payload. */
export function createApp({ exporterUrl, handle = async () => {} }) {
  const app = express();
  // express.raw keeps the signed bytes; express.json() would re-serialise and break the signature.
  app.post('/webhook', express.raw({ type: '*/*', limit: '4mb' }), async (req, res) => {
    // Not awaited: the exporter being slow or down must not delay or fail the app's own answer.
    void forwardToExporter(req.body, req.get('x-hub-signature-256'), exporterUrl);
    await handle(JSON.parse(req.body.toString('utf8')));
    res.sendStatus(200);
  });
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const exporterUrl = process.env.EXPORTER_WEBHOOK_URL ?? 'http://127.0.0.1:8080/webhook';
  createApp({ exporterUrl }).listen(Number(process.env.PORT ?? 3000));
}
