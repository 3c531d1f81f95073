/**
 * An app as a user builds it: Fastify, the app's own plugins registered `before` and/or `after`
 * ours, the counter page at `/`. For the tests of the plugin beside the usual Fastify plugins.
 */
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import { createMemoryStore, livecomponents } from '../../src/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

export { openClient } from '../helpers/demo.js';

type Step = (app: FastifyInstance) => unknown;

export interface EcosystemAppOptions {
  /** Registered before the plugin (plugins, hooks, handlers). */
  before?: Step;
  /** Registered after the plugin and the page route. */
  after?: Step;
  server?: FastifyServerOptions;
}

/** The app, ready; `/` is a page mounting `counter:main` (PROTOCOL §2). Close it in `afterEach`. */
export async function ecosystemApp(options: EcosystemAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(options.server);
  try {
    await options.before?.(app);
    await app.register(livecomponents, { runtime: await testRuntime([tinyCounter], createMemoryStore()) });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    await options.after?.(app);
    await app.ready();
  } catch (error) {
    await app.close();
    throw error;
  }
  return app;
}

/** One JSON log line of the app, as a test reads it. */
export interface LogLine {
  level: number;
  msg: string;
  code?: string;
  err?: { type?: string; code?: string; stack?: string };
}

/** A logger at `info` whose lines land, parsed, in `logs` (pass `logger` as `server.logger`). */
export function capturedLogs(): { logs: LogLine[]; logger: { level: string; stream: { write(line: string): void } } } {
  const logs: LogLine[] = [];
  return { logs, logger: { level: 'info', stream: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) } } };
}

/** Closes the apps a test file made, after each test. */
export function appsToClose(): { track(app: FastifyInstance): FastifyInstance; closeAll(): Promise<void> } {
  const open: FastifyInstance[] = [];
  return {
    track: (app) => (open.push(app), app),
    closeAll: async () => {
      await Promise.all(open.splice(0).map((app) => app.close()));
    },
  };
}

/**
 * `@fastify/helmet`, loaded without its types: they declare `reply.cspNonce` for the whole program,
 * and the tests that stand in for helmet (`decorateReply('cspNonce', null)`) would no longer compile.
 */
export async function loadHelmet(): Promise<FastifyPluginAsync<Record<string, unknown>>> {
  const name: string = '@fastify/helmet';
  return ((await import(name)) as { default: FastifyPluginAsync<Record<string, unknown>> }).default;
}
