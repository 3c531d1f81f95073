/**
 * The "Your password was changed" notice of `POST /change-password` goes through the auth service's
 * background tasks (src/auth/service.ts `noticePasswordChanged`, as a reset's notice and the reset
 * mails do): `idle()` counts it, so closing the app waits for it (up to `closeWaitMs`) before the
 * mail transport is closed, and `maxBackgroundTasks` bounds it: with the queue full it is not sent,
 * and `onBackgroundError` is told. Before, password-change.ts sent it with a bare `setImmediate`:
 * invisible to `idle()` (a shutdown right after a change closed the transport under the notice, or
 * the process exited before it), and sent however many were already running.
 */
import { afterEach, expect, it } from 'vitest';
import { capturedMailTransport, type MailMessage, type MailTransport } from '../../src/auth/index.js';
import { waitUntil } from '../helpers/wait-until.js';
import { authApp, eachEngine, PASSWORD, type AuthApp } from './harness.js';

const EMAIL = 'ada@example.com';
const NEW_PASSWORD = 'a brand new passphrase 2026';
const NOTICE = 'Your password was changed';
const RESET = 'Reset your password';

const releases: (() => void)[] = [];

/**
 * A relay that holds every mail whose subject is `held` until `release()`, and records, in `order`,
 * each mail handed over ('sent: <subject>') and its own close ('mail closed').
 */
function lateRelay(held: string) {
  const captured = capturedMailTransport();
  const order: string[] = [];
  const started: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const mail: MailTransport = {
    kind: 'late',
    async send(message: MailMessage) {
      started.push(message.subject);
      if (message.subject === held) await gate;
      await captured.send(message);
      order.push(`sent: ${message.subject}`);
    },
    async close() {
      order.push('mail closed');
    },
  };
  releases.push(() => release());
  return { mail, captured, order, started, release };
}

eachEngine('the password-changed notice of a change is background work of the auth service', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    // A test that failed with a mail held: let it go, or the close waits out closeWaitMs for it.
    for (const release of releases.splice(0)) release();
    await t?.close();
    t = undefined;
  });

  const change = (a: AuthApp, access: string) =>
    a.post('/change-password', { current_password: PASSWORD, new_password: NEW_PASSWORD }, { authorization: `Bearer ${access}` });

  it('counted by idle(): a close right after the change waits for the notice, then closes the transport', async () => {
    const relay = lateRelay(NOTICE);
    const a = (t = await authApp(engine, { auth: { mail: relay.mail } }));
    expect((await a.register(EMAIL)).statusCode).toBe(201);
    const s = await a.login(EMAIL);
    expect((await change(a, s.access)).statusCode).toBe(204);
    await waitUntil('the notice handed to the relay', () => relay.started.includes(NOTICE));
    // The notice is still at the relay: one background task running (was 0, the notice not counted).
    expect(await a.app.livecomponentsAuth.service.idle(0)).toBe(1);

    const closing = a.close().then(() => relay.order.push('app closed'));
    relay.release();
    await closing;
    t = undefined;
    // Was the transport closed, and the app with it, with no wait for the notice still at the relay.
    expect(relay.order).toEqual([`sent: ${NOTICE}`, 'mail closed', 'app closed']);
    expect(relay.captured.messages.map((m) => m.to)).toEqual([EMAIL]);
  });

  it('bounded by maxBackgroundTasks: with the queue full the notice is not sent, onBackgroundError is told, the change stands', async () => {
    const relay = lateRelay(RESET);
    const errors: unknown[] = [];
    const a = (t = await authApp(engine, { auth: { mail: relay.mail, maxBackgroundTasks: 1, onBackgroundError: (e: unknown) => void errors.push(e) } }));
    expect((await a.register(EMAIL)).statusCode).toBe(201);
    // The one background slot, taken by a reset mail the relay holds.
    expect((await a.post('/forgot-password', { email: EMAIL })).statusCode).toBe(202);
    await waitUntil('the reset mail handed to the relay', () => relay.started.includes(RESET));

    const s = await a.login(EMAIL);
    expect((await change(a, s.access)).statusCode).toBe(204);
    const user = (await a.me((await a.login(EMAIL, NEW_PASSWORD)).access)).json() as { id: string };
    expect(errors.map((e) => (e as Error).message)).toEqual([`Password-changed notice for user ${user.id} not sent: 1 background tasks are still running`]);

    relay.release();
    expect(await a.idle()).toBe(0);
    // Was the notice too, sent beside the held reset mail whatever the cap.
    expect(relay.started).toEqual([RESET]);
    expect(relay.captured.messages.map((m) => m.subject)).toEqual([RESET]);
  });
});
