/**
 * The deployment docs list the cookies a production app sets (docs/deployment.md, HTTPS; the
 * checklist's `cookies` item): whoever sets up a proxy, a WAF or a cookie policy from them must see
 * every one. The refresh token's companion (`__Host-lc_refresh_binding_token`, ddad6b8) was missing:
 * a proxy that drops or rewrites it (its `Path=/` is what `__Host-` requires) refuses every refresh.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, PASSWORD, setCookies, type AuthApp } from './harness.js';

const read = (file: string) => readFileSync(join(import.meta.dirname, '../..', file), 'utf8').replace(/\s+/g, ' ');

eachEngine('the deployment docs name every cookie of a production sign-in', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  it('docs/deployment.md and the checklist', async () => {
    t = await authApp(engine, { production: true });
    await t.register('ada@example.com');
    const login = await t.post('/login', { email: 'ada@example.com', password: PASSWORD }, { origin: 'https://app.example.com' });
    expect(login.statusCode).toBe(200);
    const names = setCookies(login).map((line) => line.slice(0, line.indexOf('=')));
    expect(names.sort()).toEqual(['__Host-lc_device_token', '__Host-lc_refresh_binding_token', 'refresh_token']);
    const checklist = /Cookies are `Secure` \(([^)]*)\)/.exec(read('docs/deployment-checklist.md'))?.[1] ?? '';
    const deployment = /the session cookie is then (.*?)\. - The nginx site/.exec(read('docs/deployment.md'))?.[1] ?? '';
    for (const name of ['__Host-lc_session', ...names]) {
      expect(checklist, `deployment-checklist.md: ${name}`).toContain(`\`${name}\``);
      expect(deployment, `deployment.md: ${name}`).toContain(name === '__Host-lc_session' ? name : `\`${name}\``);
    }
  });
});
