/**
 * The app the request-line flood tests share: it refuses (403, `malicious_csrf`) every request with
 * `x-refuse` and serves the others, its Fastify logger and security logger on one captured JSON
 * destination, request ids `r1`, `r2`, … and the URLs its router refuses answered 400 as
 * serverOptions() answers them (`frameworkErrors`).
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type LogController } from 'fastify';
import { requestInfo } from '../../src/http/request-info.js';
import type { FloodLimitOptions } from '../../src/ops/log-flood.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { FloodLogController } from '../../src/ops/logging/request-lines.js';
import { createSecurityLogger, type SecurityLogger } from '../../src/ops/security-logger.js';
import { capture, type Capture } from './capture.js';

export interface FloodApp {
  app: FastifyInstance;
  out: Capture;
  events: SecurityLogger;
  done: () => Promise<void>;
  listen: () => Promise<number>;
}

export interface FloodAppOptions {
  /** @default a FloodLogController */
  controller?: LogController;
  /** The security logger's. @default its default limit */
  floodLimit?: FloodLimitOptions | false;
  /** Routes of the test's own, added before `ready()`. */
  routes?: (app: FastifyInstance, events: SecurityLogger) => unknown;
}

export async function floodApp(options: FloodAppOptions = {}): Promise<FloodApp> {
  const out = capture();
  const logger = createLogger({ format: 'json', stream: out });
  let requestId = 0;
  const app = Fastify({
    loggerInstance: logger,
    trustProxy: true,
    logController: options.controller ?? new FloodLogController({ requestIdLogLabel: 'request_id' }),
    genReqId: () => `r${++requestId}`,
    frameworkErrors: (error, _request, reply) => void (reply as unknown as FastifyReply).code(400).send({ code: 'INVALID_REQUEST', error: error.message }),
  }) as unknown as FastifyInstance;
  const events = createSecurityLogger({ logger: app.log, floodLimit: options.floodLimit });
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers['x-refuse'] === undefined) return;
    events.emit({ event: 'malicious_csrf', level: 'WARN', description: 'CSRF token missing', request: requestInfo(request) });
    return reply.code(403).send({ code: 'CSRF_INVALID' });
  });
  app.get('/x', async () => 'ok');
  await options.routes?.(app, events);
  await app.ready();
  return {
    app,
    out,
    events,
    listen: async () => {
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as AddressInfo).port;
    },
    done: async () => {
      await app.close();
      await closeLogger(logger);
    },
  };
}
