/**
 * A password or token inside a URL-valued variable is never repeated: not by `doctor` (text or
 * `--json`), not by the start-up `ConfigError`. Every such message goes through `urlForMessage`.
 */
import { describe, expect, it } from 'vitest';
import { urlForMessage } from '../ops/config-fields.js';
import { ConfigError, loadConfig } from '../ops/config.js';
import { main } from './index.js';

const SECRET = 'hunter2pass';

const CASES: Record<string, string>[] = [
  { CORS_ALLOWED_ORIGINS: `https://admin:${SECRET}@app.example.com` },
  { FRONTEND_URL: `https://admin:${SECRET}@app.example.com` },
  { APP_URL: `https://admin:${SECRET}@app.example.com:99999` },
  { LOG_DESTINATION: `otlp:https://user:${SECRET}@collector:99999` },
  { LOG_DESTINATION: `syslog:udp://user:${SECRET}@/x` },
  { LOG_DESTINATION: `${SECRET}@collector` },
  // Valid: only the summary could show it.
  { LOG_DESTINATION: `otlp:https://collector.example.com:4318/v1/logs?api_key=${SECRET}` },
];

async function doctor(env: Record<string, string>, json: boolean): Promise<string> {
  const lines: string[] = [];
  await main(json ? ['doctor', '--json'] : ['doctor'], { env, out: (l) => lines.push(l), err: (l) => lines.push(l) });
  return lines.join('\n');
}

describe('URLs with credentials or tokens in messages', () => {
  it.each(CASES)('%o: doctor and loadConfig name the problem without the secret', async (env) => {
    const text = await doctor(env, false);
    const json = await doctor(env, true);
    expect(() => JSON.parse(json)).not.toThrow();
    expect(text).not.toContain(SECRET);
    expect(json).not.toContain(SECRET);
    let message = '';
    try {
      loadConfig({ ...env, NODE_ENV: 'production' });
    } catch (error) {
      message = error instanceof ConfigError ? error.message : String(error);
    }
    expect(message).not.toBe('');
    expect(message).not.toContain(SECRET);
  });

  it('still says which URL is meant', async () => {
    expect(await doctor({ CORS_ALLOWED_ORIGINS: `https://admin:${SECRET}@app.example.com` }, false)).toContain(
      'FAIL cors: CORS_ALLOWED_ORIGINS: "https://app.example.com" is not an exact origin: drop the path, query or credentials (use https://app.example.com)',
    );
    expect(await doctor({ LOG_DESTINATION: `otlp:https://collector.example.com:4318/v1/logs?api_key=${SECRET}` }, false)).toContain(
      'ok  logging: pretty to otlp:https://collector.example.com:4318/v1/logs, level info',
    );
    expect(urlForMessage(`https://admin:${SECRET}@app.example.com:99999/x?k=1`)).toBe('…@app.example.com:99999/x');
    expect(urlForMessage('redis://:pw@10.0.0.1:6379/2?x=1#y')).toBe('redis://10.0.0.1:6379/2');
  });
});
