#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { COMMANDS, formatHelp, wantsHelp } from './cli-help.js';
import { checkConfig, ConfigError } from './config/index.js';
import { createLogger } from './log.js';
import { packageVersion, startExporter } from './main.js';

const USAGE = `whatsapp-exporter <command> [options]

Commands:
  start [--config FILE]         run the exporter (default command)
  check-config [--config FILE]  validate the environment and the YAML file, then exit
  doctor [--config FILE] [--public-url URL]  check the setup against Meta: token, WABAs, subscriptions, webhook, store
  simulate [options]            run the Graph API simulator and send scenario webhooks (see --help)
  demo                          exporter + simulator in one process, nothing else needed
  backtest [--json] [--scenario FILE ...]  early-warning lead times on simulated traces (see --help)
  version                       print the version

whatsapp-exporter <command> --help lists a command's options and the environment variables it reads.
`;

const REQUIRED = new Set(['webhook.appSecrets', 'webhook.verifyToken']);

/**
 * The first line a person reads when start fails. A fresh clone without the two required values
 * is the common case: say what to set, and how to look around without a Meta app.
 */
export function startFailureHeadline(problems: readonly string[], configFile: string | undefined): string {
  const onlyRequiredMissing = configFile === undefined && problems.length > 0
    && problems.every((p) => [...REQUIRED].some((key) => p.startsWith(`${key} is missing`)));
  if (onlyRequiredMissing) {
    return 'whatsapp-exporter needs two values from your Meta app to start: set WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN '
      + '(README, "Connecting to Meta"), or try it with a simulated account first: npm run demo';
  }
  return `whatsapp-exporter cannot start: fix ${problems.length === 1 ? 'this problem' : `these ${problems.length} problems`} in the configuration `
    + '(whatsapp-exporter check-config checks without starting):';
}

async function main(argv: string[]): Promise<number> {
  const [command = 'start', ...rest] = argv;
  // Every command answers --help, before it parses anything else or starts anything.
  if (wantsHelp(rest) && COMMANDS[command]) {
    process.stdout.write(formatHelp(COMMANDS[command]));
    return 0;
  }
  switch (command) {
    case 'start':
    case 'check-config': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
      let checked;
      try {
        checked = checkConfig({ configFile: values.config });
      } catch (err) {
        if (err instanceof ConfigError) {
          const headline = command === 'start' ? startFailureHeadline(err.problems, values.config) : 'invalid configuration:';
          console.error(`${headline}\n${err.problems.map((p) => `  - ${p}`).join('\n')}`);
          return 2;
        }
        throw err;
      }
      const { config, warnings } = checked;
      if (command === 'check-config') {
        for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
        process.stdout.write(`configuration ok: ${config.wabas.length} WABA(s), store ${config.store.redisUrl ? 'redis' : 'memory'}, ${config.funnels.length} funnel(s)\n`);
        return 0;
      }
      const logger = createLogger({ level: config.logLevel });
      const exporter = await startExporter(config, { logger, configWarnings: warnings });
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          logger.info({ signal }, 'shutting down');
          exporter.stop().then(resolve, (err: unknown) => {
            logger.error({ err: (err as Error).message }, 'shutdown failed');
            resolve();
          });
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
      logger.flush();
      return 0;
    }
    case 'doctor': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' }, 'public-url': { type: 'string' } }, allowPositionals: false });
      const { allPassed, formatResults, runDoctor } = await import('./doctor/index.js');
      const results = await runDoctor({ ...(values.config ? { configFile: values.config } : {}), ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}) });
      process.stdout.write(formatResults(results));
      return allPassed(results) ? 0 : 1;
    }
    case 'simulate': {
      const { runSimulate } = await import('./simulator/cli.js');
      await runSimulate(rest);
      return 0;
    }
    case 'demo': {
      parseArgs({ args: rest, options: {}, allowPositionals: false });
      const { runDemo, demoPortsFromEnv } = await import('./simulator/cli.js');
      await runDemo(demoPortsFromEnv(process.env));
      return 0;
    }
    case 'backtest': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' }, scenario: { type: 'string', multiple: true } }, allowPositionals: false });
      const { runBacktestCommand } = await import('./backtest/cli.js');
      return runBacktestCommand({ json: values.json ?? false, scenarios: values.scenario ?? [] });
    }
    case 'version':
      parseArgs({ args: rest, options: {}, allowPositionals: false });
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    case '--version':
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
