/**
 * OWASP ASVS 5.0 6.3.7 (the user is told when a credential changes): a password reset mails the same
 * "Your password was changed" notice as a change does (src/auth/service.ts `resetPassword`,
 * `passwordChangedMail`), after the answer; a relay failure goes to `onBackgroundError` and the reset
 * stands. Before, only a change told the owner: a reset by whoever reads the mailbox went unnoticed
 * by anyone else. A refused reset mails nothing.
 */
import { afterEach, expect, it } from 'vitest';
import { capturedMailTransport, type MailMessage } from '../../src/auth/index.js';
import { waitUntil } from '../helpers/wait-until.js';
import { authApp, eachEngine, type AuthApp } from './harness.js';

const NEW_PASSWORD = 'a brand new passphrase 2026';
const NOTICE = 'Your password was changed';

eachEngine('ASVS 6.3.7: a password reset tells the owner', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function resetLink(a: AuthApp, messages: () => readonly MailMessage[]): Promise<string> {
    expect((await a.register('ada@example.com')).statusCode).toBe(201);
    expect((await a.post('/forgot-password', { email: 'ada@example.com' })).statusCode).toBe(202);
    await a.idle();
    const link = /#token=([A-Za-z0-9_-]{43})/.exec(messages()[0]?.text ?? '')?.[1];
    if (link === undefined) throw new Error('no reset link mailed');
    return link;
  }

  it('a reset: 204 and exactly one notice, to the account, naming no password or token; refused resets: none', async () => {
    const a = (t = await authApp(engine));
    const link = await resetLink(a, () => a.mail.messages);
    // Refused: a weak password (the token stays live), an unknown token.
    expect((await a.post('/reset-password', { token: link, password: 'password123' })).json().code).toBe('VALIDATION_FAILED');
    expect((await a.post('/reset-password', { token: 'x'.repeat(43), password: NEW_PASSWORD })).json().code).toBe('RESET_TOKEN_INVALID');
    await a.idle();
    expect(a.mail.messages.filter((m) => m.subject === NOTICE)).toEqual([]);

    expect((await a.post('/reset-password', { token: link, password: NEW_PASSWORD })).statusCode).toBe(204);
    await a.idle();
    const notices = a.mail.messages.filter((m) => m.subject === NOTICE);
    expect(notices.map((m) => m.to)).toEqual(['ada@example.com']);
    expect(notices[0]?.text).not.toContain(NEW_PASSWORD);
    expect(notices[0]?.text).not.toContain(link);
    // The spent link again: refused, no second notice.
    expect((await a.post('/reset-password', { token: link, password: 'yet another passphrase 9' })).json().code).toBe('RESET_TOKEN_INVALID');
    await a.idle();
    expect(a.mail.messages.filter((m) => m.subject === NOTICE)).toHaveLength(1);
  });

  it('the relay fails on the notice: onBackgroundError hears of it, the reset stands', async () => {
    const captured = capturedMailTransport();
    const errors: unknown[] = [];
    const mail = {
      kind: 'failing-notice',
      async send(message: MailMessage) {
        if (message.subject === NOTICE) throw new Error('relay down');
        await captured.send(message);
      },
    };
    const a = (t = await authApp(engine, { auth: { mail, onBackgroundError: (e: unknown) => void errors.push(e) } }));
    const link = await resetLink(a, () => captured.messages);
    expect((await a.post('/reset-password', { token: link, password: NEW_PASSWORD })).statusCode).toBe(204);
    await waitUntil('the relay failure reported', () => (errors.length > 0 ? errors : undefined));
    expect(errors.map((e) => (e as Error).message)).toEqual(['relay down']);
    expect((await a.post('/login', { email: 'ada@example.com', password: NEW_PASSWORD })).statusCode).toBe(200);
  });
});
