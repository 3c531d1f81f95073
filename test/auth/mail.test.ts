/**
 * The reset mail against relays that misbehave, over real TCP (fake SMTP servers on 127.0.0.1):
 * one that never greets (bounded waits, a close that ends a hung send), one that does not offer
 * STARTTLS to a remote client (as a man in the middle stripping it would: nothing secret is sent),
 * and, through the auth module, a relay that hangs (a cap on the requests worked on at once, and a
 * shutdown that does not wait for it past its deadline).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { FORGOT_PASSWORD_ANSWER, smtpMailTransport, type MailMessage, type MailTransport } from '../../src/auth/index.js';
import { authApp, eachEngine, type AuthApp } from './harness.js';

const MESSAGE: MailMessage = { to: 'ada@example.com', subject: 'Reset your password', text: 'Open https://app.example.com/reset-password#token=SECRET' };
const SHORT = { connectionTimeout: 200, greetingTimeout: 200, socketTimeout: 200 };

interface Relay {
  readonly port: number;
  /** Every command line the relay received, in order (message lines not included). */
  readonly commands: string[];
  /** Every message received (DATA), as sent. */
  readonly messages: string[];
  close(): Promise<void>;
}

/**
 * A relay on 127.0.0.1 that offers AUTH PLAIN and no STARTTLS, and takes whatever it is given.
 * `silent`: accepts connections and never says a word. `proxy`: answers an HTTP CONNECT first (as
 * a proxy would), so the client believes it talks to a remote host. `rejectRecipient`: refuses every
 * RCPT TO with a 550 that echoes the address, as relays do.
 */
async function startRelay(options: { silent?: boolean; proxy?: boolean; rejectRecipient?: boolean } = {}): Promise<Relay> {
  const commands: string[] = [];
  const messages: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (options.silent) return;
    let buffer = '';
    let stage: 'connect' | 'command' | 'data' = options.proxy ? 'connect' : 'command';
    let data = '';
    const reply = (text: string) => void socket.write(`${text}\r\n`);
    if (stage === 'command') reply('220 relay.test ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      if (stage === 'connect') {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        commands.push(buffer.slice(0, buffer.indexOf('\r\n')));
        buffer = buffer.slice(end + 4);
        stage = 'command';
        socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
        reply('220 relay.test ESMTP');
      }
      let newline: number;
      while ((newline = buffer.indexOf('\r\n')) !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 2);
        if (stage === 'data') {
          if (line === '.') {
            messages.push(data);
            data = '';
            stage = 'command';
            reply('250 2.0.0 queued');
          } else data += `${line}\n`;
          continue;
        }
        commands.push(line);
        const verb = line.split(' ')[0]?.toUpperCase();
        if (verb === 'EHLO') reply('250-relay.test\r\n250-AUTH PLAIN\r\n250 8BITMIME');
        else if (verb === 'AUTH') reply('235 2.7.0 accepted');
        else if (verb === 'RCPT' && options.rejectRecipient) reply(`550 5.1.1 ${line.slice(line.indexOf('<'))}: Recipient address rejected: User unknown`);
        else if (verb === 'DATA') {
          stage = 'data';
          reply('354 go ahead');
        } else if (verb === 'QUIT') {
          reply('221 bye');
          socket.end();
        } else if (verb === 'STARTTLS') reply('502 5.5.1 not offered');
        else reply('250 OK');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    commands,
    messages,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const opened: Array<{ close(): Promise<void> } | MailTransport> = [];
afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close?.();
});

async function relay(options?: { silent?: boolean; proxy?: boolean; rejectRecipient?: boolean }): Promise<Relay> {
  const r = await startRelay(options);
  opened.push(r);
  return r;
}

function smtp(url: string, from: string, options?: Parameters<typeof smtpMailTransport>[2]): MailTransport {
  const transport = smtpMailTransport(url, from, options);
  opened.push(transport);
  return transport;
}

describe('smtpMailTransport', () => {
  it('gives up on a relay that accepts the connection and never greets, after the greeting timeout', async () => {
    const silent = await relay({ silent: true });
    const transport = smtp(`smtp://127.0.0.1:${silent.port}`, 'no-reply@app.example.com', SHORT);
    await expect(transport.send(MESSAGE)).rejects.toThrow(/greeting/i);
  });

  it('close() ends a send that waits on a relay that never greets (no timeout reached)', async () => {
    const silent = await relay({ silent: true });
    const transport = smtp(`smtp://127.0.0.1:${silent.port}`, 'no-reply@app.example.com');
    const sent = transport.send(MESSAGE);
    sent.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    await transport.close?.();
    await expect(sent).rejects.toThrow();
  });

  it('sends nothing secret to a remote smtp:// relay without STARTTLS; at loopback or with ?requireTLS=false the same relay gets the mail', async () => {
    const stripped = await relay({ proxy: true });
    const proxy = encodeURIComponent(`http://127.0.0.1:${stripped.port}`);
    const remote = smtp(`smtp://user:relay-password@mail.example.com:587?proxy=${proxy}`, 'no-reply@app.example.com', SHORT);
    await expect(remote.send(MESSAGE)).rejects.toThrow();
    expect(stripped.commands[0]).toBe('CONNECT mail.example.com:587 HTTP/1.1');
    expect(stripped.commands.some((c) => c.startsWith('EHLO'))).toBe(true);
    expect(stripped.commands.filter((c) => /^(AUTH|MAIL|RCPT|DATA)\b/i.test(c))).toEqual([]);
    expect(stripped.messages).toEqual([]);

    const optedOut = smtp(`smtp://user:relay-password@mail.example.com:587?proxy=${proxy}&requireTLS=false`, 'no-reply@app.example.com', SHORT);
    await optedOut.send(MESSAGE);
    expect(stripped.commands.filter((c) => c.startsWith('AUTH'))).toHaveLength(1);

    const local = await relay();
    await smtp(`smtp://127.0.0.1:${local.port}`, 'Shop <no-reply@shop.example>', SHORT).send(MESSAGE);
    expect(local.commands.some((c) => c.startsWith('AUTH'))).toBe(false);
    expect(local.messages).toHaveLength(1);
    expect(local.messages[0]).toMatch(/^From: Shop <no-reply@shop\.example>$/m);
    expect(local.messages[0]).toContain('reset-password#token=SECRET');
  });

  it('keeps an explicit ?requireTLS=true at loopback (a local forwarder to a remote relay): nothing secret goes out without STARTTLS', async () => {
    const local = await relay();
    for (const asked of ['requireTLS=true', 'requireTLS=1', 'requireTLS=true&requireTLS=false']) {
      const transport = smtp(`smtp://user:relay-password@127.0.0.1:${local.port}?${asked}`, 'no-reply@app.example.com', SHORT);
      await expect(transport.send(MESSAGE), asked).rejects.toThrow();
    }
    expect(local.commands.filter((c) => /^(AUTH|MAIL|RCPT|DATA)\b/i.test(c))).toEqual([]);
    expect(local.messages).toEqual([]);
  });

  it("a relay's refusal reaches the logs without the recipient's address: logs name users by id, never by email", async () => {
    const refusing = await relay({ rejectRecipient: true });
    const transport = smtp(`smtp://127.0.0.1:${refusing.port}`, 'Shop <no-reply@shop.example>', SHORT);
    const error = await transport.send({ ...MESSAGE, to: 'Ada.Lovelace@Example.com' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refusing.commands.filter((c) => /^RCPT TO:<Ada\.Lovelace@example\.com>$/i.test(c))).toHaveLength(1);
    expect(error).toBeInstanceOf(Error);
    const logged = JSON.stringify({ ...(error as object), message: (error as Error).message, stack: (error as Error).stack });
    expect(logged).not.toMatch(/lovelace/i);
    expect(error).toMatchObject({ message: expect.stringContaining('550 5.1.1 <recipient>: Recipient address rejected'), code: 'EENVELOPE', responseCode: 550 });
  });

  it('refuses a sender that is not exactly one address (no header injection)', () => {
    for (const from of ['no-reply@app.example.com\r\nBcc: eve@evil.example', 'a@app.example.com, b@app.example.com', 'Shop <a@app.example.com>, <b@app.example.com>', 'not an address']) {
      expect(() => smtpMailTransport('smtp://127.0.0.1:25', from)).toThrow(TypeError);
    }
  });
});

/** A transport whose sends wait until released; counts its closes. */
function hungTransport() {
  const waiting: Array<() => void> = [];
  let closes = 0;
  const transport: MailTransport & { readonly waiting: typeof waiting; readonly closes: number } = {
    kind: 'hung',
    waiting,
    get closes() {
      return closes;
    },
    send: () => new Promise<void>((resolve) => waiting.push(resolve)),
    async close() {
      closes += 1;
    },
  };
  return transport;
}

eachEngine('reset mail with a relay that hangs', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  const limits = { 'forgot-password': { limit: 100, windowSeconds: 60 } };

  it('past maxBackgroundTasks drops the request with a logged event, and answers exactly the same', async () => {
    const mail = hungTransport();
    t = await authApp(engine, { auth: { mail, limits, maxBackgroundTasks: 2, closeWaitMs: 60_000 } });
    await t.register('ada@example.com');
    t.takeEvents();
    const answers: LightMyRequestResponse[] = [];
    for (let i = 0; i < 3; i++) answers.push(await t.post('/forgot-password', { email: 'ada@example.com' }));
    const shape = (res: LightMyRequestResponse) => ({
      status: res.statusCode,
      body: res.body,
      headers: Object.keys(res.headers).filter((h) => !['date', 'x-request-id'].includes(h)).sort(),
    });
    expect(answers.map(shape)).toEqual(Array(3).fill(shape(answers[0] as LightMyRequestResponse)));
    expect(answers[2]?.json()).toEqual(FORGOT_PASSWORD_ANSWER);
    const dropped = t.events.filter((e) => e.event === 'excess_rate_limit_exceeded').map((e) => e.description);
    expect(dropped).toEqual([expect.stringMatching(/^Password reset request dropped unread: 2 are still being worked on/)]);
    while (mail.waiting.length < 2) await new Promise((resolve) => setImmediate(resolve));
    for (const release of mail.waiting.splice(0)) release();
    expect(await t.app.livecomponentsAuth.service.idle()).toBe(0);
    await t.post('/forgot-password', { email: 'ada@example.com' });
    await expect(t.app.livecomponentsAuth.service.idle(0)).resolves.toBe(1);
    while (mail.waiting.length < 1) await new Promise((resolve) => setImmediate(resolve));
    mail.waiting.splice(0).forEach((release) => release());
  });

  it('closing the app abandons a hung mail after closeWaitMs, says so, and closes the transport', async () => {
    const mail = hungTransport();
    t = await authApp(engine, { auth: { mail, limits, closeWaitMs: 50 } });
    await t.register('ada@example.com');
    await t.post('/forgot-password', { email: 'ada@example.com' });
    while (mail.waiting.length < 1) await new Promise((resolve) => setImmediate(resolve));
    const app = t;
    t = undefined;
    await app.close();
    expect(mail.closes).toBe(1);
    const warned = app.logs.map((l) => JSON.parse(l) as { level: number; abandoned?: number; msg: string }).filter((l) => l.abandoned !== undefined);
    expect(warned).toEqual([expect.objectContaining({ level: 40, abandoned: 1, msg: expect.stringMatching(/1 background task\(s\) \(password reset requests, password-changed notices\) abandoned at shutdown/) })]);
  });
});
