// renderer serve [--config FILE] [--host H] [--port P] [--socket PATH] [--steps-dir DIR]
//                [--data-root DIR] [--state-dir DIR]
// Flags override the config file; with no config at all: the embedded one (bundled
// example steps and data, loopback, a demo schedule). The token comes from the config
// or the RENDERER_TOKEN environment variable, never from a flag (flags show in ps).
import type { Config } from '../config/config-schema.js';
import { EMBEDDED_CONFIG } from '../config/default-config.js';
import { configFrom, loadConfig, mergeDeep } from '../config/load.js';
import type { FastifyInstance } from 'fastify';
import { isRendererError } from '../errors.js';
import { Daemon, type DaemonOptions } from '../daemon/daemon.js';
import { buildServer } from '../http/server.js';
import { integerFlag, parseFlags, reportUsage, UsageError, writeLine } from './args.js';

/** The config `renderer serve` runs with: a file's or the embedded one, flags on top. */
function serveConfig(argv: string[]): Readonly<Config> {
  const { values, positionals } = parseFlags(argv, {
    config: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    socket: { type: 'string' },
    'steps-dir': { type: 'string' },
    'data-root': { type: 'string' },
    'state-dir': { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const server: Record<string, unknown> = {};
  if (values.host !== undefined) server.host = values.host;
  if (values.port !== undefined) server.port = integerFlag('port', values.port, 0, 65535);
  if (values.socket !== undefined) server.socket = values.socket;
  if (process.env.RENDERER_TOKEN) server.token = process.env.RENDERER_TOKEN;
  const overrides: Record<string, unknown> = { server };
  if (process.env.RENDERER_CALLBACK_SECRET) overrides.callbacks = { secret: process.env.RENDERER_CALLBACK_SECRET };
  if (values['steps-dir'] !== undefined) overrides.stepsDir = values['steps-dir'];
  if (values['data-root'] !== undefined) overrides.dataRoot = values['data-root'];
  if (values['state-dir'] !== undefined) overrides.stateDir = values['state-dir'];
  return values.config ? loadConfig(values.config, overrides) : configFrom(mergeDeep(EMBEDDED_CONFIG, overrides), 'embedded config');
}

export interface Serving {
  daemon: Daemon;
  app: FastifyInstance;
  /** Where it listens: a URL, or the unix socket's path. */
  address: string;
}

/**
 * The wiring: the daemon (runs, pool, schedules), then the HTTP front end built on it
 * and attached so a stop closes its connections, then listen. http/ depends on
 * daemon/, never the reverse.
 */
export async function startServing(config: Readonly<Config>, options: DaemonOptions = {}): Promise<Serving> {
  const daemon = await Daemon.create(config, options);
  const app = buildServer(daemon);
  daemon.attach({ close: () => app.close(), closeIdleConnections: () => app.server.closeIdleConnections(), closeAllConnections: () => app.server.closeAllConnections() });
  try {
    await daemon.start();
    const { server } = config;
    const address = server.socket ? await app.listen({ path: server.socket }) : await app.listen({ host: server.host, port: server.port });
    daemon.log.info({ address, pool: daemon.pool?.size ?? 0, maxConcurrentRuns: daemon.executor.admission.maxConcurrent, sandbox: daemon.runner.sandbox?.cgroups?.description ?? daemon.runner.sandboxProblem }, 'renderer serving');
    return { daemon, app, address };
  } catch (error) {
    await daemon.stop(0).catch(() => undefined);
    throw error;
  }
}

export async function serveCommand(argv: string[]): Promise<number> {
  const config = reportUsage('serve', () => serveConfig(argv));
  if (!config) return 2;

  let daemon: Daemon;
  try {
    ({ daemon } = await startServing(config));
  } catch (error) {
    if (!isRendererError(error) && (error as NodeJS.ErrnoException).code !== 'EADDRINUSE' && (error as NodeJS.ErrnoException).code !== 'EACCES') throw error;
    writeLine(process.stderr, `renderer serve: ${(error as Error).message}`);
    return isRendererError(error) && error.code === 'RENDERER_ERR_CONFIG_INVALID' ? 2 : 1;
  }
  // A long-lived daemon logs a bug in itself and keeps serving the runs that work; the
  // log line is what ops (and the soak) look for.
  process.on('unhandledRejection', (error) => daemon.log.error({ err: error }, 'internal error: unhandled rejection'));
  return new Promise((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals): void => {
      // A second signal means "now": no grace period.
      signals++;
      daemon.log.info({ signal }, signals > 1 ? 'second signal: stopping without grace' : 'signal received');
      void daemon.stop(signals > 1 ? 0 : undefined).then(() => resolve(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
