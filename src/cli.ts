#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './log.js';
import { packageVersion, startExporter } from './main.js';

const USAGE = `whatsapp-exporter <command> [options]

Commands:
  start [--config FILE]         run the exporter (default command)
  check-config [--config FILE]  validate the environment and the YAML file, then exit
  simulate [options]            run the Graph API simulator and send scenario webhooks (see --help)
  demo                          exporter + simulator in one process, nothing else needed
  version                       print the version
`;

async function main(argv: string[]): Promise<number> {
  const [command = 'start', ...rest] = argv;
  switch (command) {
    case 'start':
    case 'check-config': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
      let config;
      try {
        config = loadConfig({ configFile: values.config });
      } catch (err) {
        if (err instanceof ConfigError) {
          console.error(err.message);
          return 2;
        }
        throw err;
      }
      if (command === 'check-config') {
        process.stdout.write(`configuration ok: ${config.wabas.length} WABA(s), store ${config.store.redisUrl ? 'redis' : 'memory'}, ${config.funnels.length} funnel(s)\n`);
        return 0;
      }
      const logger = createLogger({ level: config.logLevel });
      const exporter = await startExporter(config, { logger });
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
    case 'simulate': {
      const { runSimulate } = await import('./simulator/cli.js');
      await runSimulate(rest);
      return 0;
    }
    case 'demo': {
      const { runDemo } = await import('./simulator/cli.js');
      await runDemo();
      return 0;
    }
    case 'version':
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
