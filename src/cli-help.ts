import { ENV_VARS } from './config/index.js';

/** What `whatsapp-exporter <command> --help` prints: one entry per command, options then env. */
export interface CommandHelp {
  usage: string;
  summary: string;
  options: ReadonlyArray<readonly [flag: string, meaning: string]>;
  /** Environment variables the command reads, with what for. */
  env: ReadonlyArray<readonly [name: string, meaning: string]>;
  /** Free text printed after the lists (scenarios, examples). */
  more?: string;
}

const CONFIG_ENV = ENV_VARS.map((e) => [e.env, e.description] as const);
const HELP_OPTION = ['-h, --help', 'print this help and exit'] as const;

export const COMMANDS: Record<string, CommandHelp> = {
  start: {
    usage: 'whatsapp-exporter start [--config FILE]',
    summary: 'Run the exporter: the public webhook listener and the private listener (/metrics, status page). The default command.',
    options: [['-c, --config FILE', 'YAML configuration file (the environment wins where both set a value)'], HELP_OPTION],
    env: [...CONFIG_ENV, ['KUBERNETES_SERVICE_HOST', 'set by Kubernetes; without it, a private listener open beyond loopback without auth is warned about']],
  },
  'check-config': {
    usage: 'whatsapp-exporter check-config [--config FILE]',
    summary: 'Validate the environment and the YAML file as start would, print the problems and warnings, then exit (2 when invalid).',
    options: [['-c, --config FILE', 'YAML configuration file'], HELP_OPTION],
    env: CONFIG_ENV,
  },
  doctor: {
    usage: 'whatsapp-exporter doctor [--config FILE] [--public-url URL]',
    summary: 'Check the setup, one line per check (✓, or ✗ with what to do): configuration, secrets, the token and its permissions, each WABA, '
      + 'its subscribed apps, the app\'s webhook fields, phone numbers, the webhook handshake at the public URL, the store. Exits 0 only if all pass.',
    options: [
      ['-c, --config FILE', 'YAML configuration file (the environment wins where both set a value)'],
      ['--public-url URL', 'the callback URL configured in Meta (https://…/webhook): a real handshake with the verify token and a random challenge'],
      HELP_OPTION,
    ],
    env: CONFIG_ENV,
  },
  demo: {
    usage: 'whatsapp-exporter demo',
    summary: 'The exporter, a fake Graph API and scenario webhooks in one process on 127.0.0.1: metrics, dashboards and the status page move within a minute, no Meta account needed.',
    options: [HELP_OPTION],
    env: [
      ['METRICS_PORT', 'port of the status page and /metrics (default 9464; a taken port falls back to a free one)'],
      ['WEBHOOK_PORT', 'port of the webhook listener (default 8080; a taken port falls back to a free one)'],
      ['LOG_LEVEL', 'pino log level (default warn)'],
    ],
  },
  backtest: {
    usage: 'whatsapp-exporter backtest [--json] [--scenario FILE ...]',
    summary: "Replay traces of simulated days through the exporter's own pipeline and the shipped rule files (with promtool), and report when Meta acted, when the first early warning fired, the lead time and the false warnings. Without --scenario, the built-in scenarios; exits 1 when one misses its target.",
    options: [
      ['--scenario FILE', 'a trace (JSON, or gzipped .json.gz): {"name", "events": [{"at", "webhook"} | {"at", "poll"}], "metaEvents": [{"at", "kind", "entity"}]}; repeatable'],
      ['--json', 'print {"scenarios":[{"name","metaEventAt","firstWarningAt","leadSeconds","falseWarnings"}]} instead of a table'],
      HELP_OPTION,
    ],
    env: [['PROMTOOL', "path of Prometheus's promtool (default: promtool on PATH)"]],
    more: 'Targets of the built-in scenarios: healthy-week and holiday-spike no warning; cold-list-blast 2 h, template-fatigue 6 h of lead; limit-exhaustion a warning before the first rejected send.',
  },
  version: {
    usage: 'whatsapp-exporter version',
    summary: 'Print the version and exit.',
    options: [HELP_OPTION],
    env: [],
  },
};

export function formatHelp(help: CommandHelp): string {
  const table = (rows: ReadonlyArray<readonly [string, string]>) => {
    const width = Math.max(...rows.map(([k]) => k.length)) + 2;
    return rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`).join('\n');
  };
  return [
    `${help.usage}\n\n${help.summary}\n`,
    `Options:\n${table(help.options)}\n`,
    help.env.length > 0 ? `Environment variables:\n${table(help.env)}\n` : 'Environment variables: none\n',
    help.more ? `${help.more}\n` : '',
  ].join('\n');
}

export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}
