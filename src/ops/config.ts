/**
 * The environment (PROTOCOL §1) parsed by one zod schema. Every problem is reported at once, each
 * naming its variable; secrets are never echoed back.
 */
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65_535);

function csv(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** `false`, `true`, a hop count, or comma-separated addresses/CIDRs (Fastify `trustProxy`). */
function parseTrustProxy(text: string): boolean | number | string[] {
  const t = text.trim().toLowerCase();
  if (t === '' || t === 'false' || t === '0') return false;
  if (t === 'true') return true;
  if (/^\d+$/.test(t)) return Number(t);
  return csv(text);
}

export const envSchema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: z
    .string()
    .regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'must start with sqlite: or postgres://')
    .default('sqlite:./data/livecomponents.db'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
  LC_STATE_KEYS: z.string().optional(),
  LC_SESSION_SECRET: z.string().optional(),
  CORS_ALLOWED_ORIGINS: z.string().optional(),
  FRONTEND_URL: z.string().optional(),
  APP_URL: z.string().url('must be a URL such as https://app.example.com').optional(),
  TRUST_PROXY: z.string().default('false').transform(parseTrustProxy),
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
  LOG_DESTINATION: z.string().default('stdout'),
  SANCTUM_ACCESS_TOKEN_EXPIRATION: z.coerce.number().int().positive().default(15),
  SANCTUM_REFRESH_TOKEN_EXPIRATION: z.coerce.number().int().positive().default(10_080),
});

export type Env = z.infer<typeof envSchema>;

export interface AppConfig extends Env {
  /** The app's own origin for CSRF origin checks: `APP_URL`, else `http://HOST:PORT`. */
  appOrigin: string;
  /** Exact origins allowed besides the app's own (CORS and CSRF). */
  allowedOrigins: string[];
  production: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const hostForUrl = e.HOST === '0.0.0.0' || e.HOST === '::' ? 'localhost' : e.HOST;
  const appOrigin = e.APP_URL ? new URL(e.APP_URL).origin : `http://${hostForUrl}:${e.PORT}`;
  const allowedOrigins = csv(e.CORS_ALLOWED_ORIGINS ?? e.FRONTEND_URL ?? 'http://localhost:3000');
  return { ...e, appOrigin, allowedOrigins, production: e.NODE_ENV === 'production' };
}
