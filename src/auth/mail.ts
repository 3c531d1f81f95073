/**
 * Outgoing mail (password reset links) through one small interface, so the service never knows
 * how mail leaves:
 *
 * - development: `logMailTransport` prints the message, link included, to stderr, and logs that it
 *   did (without the text): the log stream redacts every `token=…`, which would make the link
 *   useless, and the log must stay free of secrets whatever the environment;
 * - production: `smtpMailTransport` sends through `nodemailer` to `SMTP_URL`, with bounded waits, a
 *   small connection pool, and STARTTLS required for a remote `smtp://` relay;
 * - production without `SMTP_URL`: `unconfiguredMailTransport` logs a warning without the link;
 * - tests: `capturedMailTransport` keeps the messages in memory.
 */
import nodemailer from 'nodemailer';
import { parseMailbox, smtpSecurityOf } from '../ops/config-fields.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface MailTransport {
  /** Human name for logs (`log`, `smtp`, `captured`, `none`). */
  readonly kind: string;
  send(message: MailMessage): Promise<void>;
  /**
   * Ends the transport at shutdown: open connections are closed and a send still waiting for the
   * relay fails at once. Transports that hold nothing omit it.
   */
  close?(): Promise<void>;
}

/** The part of a pino logger the log transports use. */
export interface MailLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Development: the whole message is printed (to stderr by default), outside the log stream; the log
 * gets a line without the text. Never use it where real users reset passwords.
 */
export function logMailTransport(logger: MailLogger, print: (text: string) => void = (text) => void process.stderr.write(text)): MailTransport {
  return {
    kind: 'log',
    async send(message) {
      print(`\n--- development mail (not sent) ---\nTo: ${message.to}\nSubject: ${message.subject}\n\n${message.text}\n---\n`);
      logger.info({ mail_to: message.to, mail_subject: message.subject }, 'development mail (not sent): printed to stderr');
    },
  };
}

/** Production without `SMTP_URL`: says that a mail could not go out, without its content. */
export function unconfiguredMailTransport(logger: MailLogger): MailTransport {
  return {
    kind: 'none',
    async send(message) {
      logger.warn({ mail_subject: message.subject }, 'mail not sent: SMTP_URL is not configured');
    },
  };
}

/** Waits and pool size of `smtpMailTransport`; each nodemailer option of the same name. */
export interface SmtpOptions {
  /** To open the TCP (and TLS) connection, ms. @default 10_000 (nodemailer's own: 2 minutes) */
  connectionTimeout?: number;
  /** For the relay's `220` greeting once connected, ms. @default 10_000 (nodemailer's own: 30 s) */
  greetingTimeout?: number;
  /** Of silence in the middle of a conversation, ms. @default 30_000 (nodemailer's own: 10 minutes) */
  socketTimeout?: number;
  /** Connections open at once; further mails wait in the pool's queue. @default 3 */
  maxConnections?: number;
  /** Mails over one connection before it is replaced. @default 50 */
  maxMessages?: number;
}

/**
 * nodemailer's defaults wait minutes for a relay that accepts the connection and never answers,
 * one connection per mail: the reset mails of a flood would pile up for ten minutes each.
 */
const SMTP_DEFAULTS: Required<SmtpOptions> = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, maxConnections: 3, maxMessages: 50 };

/**
 * `SMTP_URL` (`smtp://user:pass@host:587`, `smtps://…`) through a nodemailer pool. An `smtp://`
 * relay that is not on this machine must offer STARTTLS (nodemailer's `requireTLS`): without it,
 * a man in the middle who strips STARTTLS from the relay's answer would get the relay password and
 * the reset link in clear. The only opt-out is `?requireTLS=false` in the URL (exactly that: the
 * doctor's `mail` check flags it in production). Other `?name=value` pairs of the URL are
 * nodemailer options and win over `options`.
 * @param from the sender, `Name <addr@host>` or `addr@host` (`MAIL_FROM`); refused (TypeError)
 *   unless it is exactly one address
 * @example smtpMailTransport('smtp://user:pass@mail.example.com:587', 'Shop <no-reply@shop.example>')
 */
export function smtpMailTransport(url: string, from: string, options: SmtpOptions = {}): MailTransport {
  const sender = senderOf(from);
  const parsed = new URL(url);
  // Required for a remote relay unless opted out; and wherever the URL asks for it with anything but
  // the opt-out (`?requireTLS=true` to a loopback forwarder in front of a remote relay).
  const requireTLS = smtpSecurityOf(parsed) === 'starttls' || parsed.searchParams.getAll('requireTLS').some((value) => value !== 'false');
  // Read here, not by nodemailer, which would also take `requireTLS=0` or `requireTLS=` for an
  // opt-out. Only such a URL is serialised again (which may re-encode the password).
  let href = url;
  if (parsed.searchParams.has('requireTLS')) {
    parsed.searchParams.delete('requireTLS');
    href = parsed.href;
  }
  const transporter = nodemailer.createTransport({ ...SMTP_DEFAULTS, ...options, pool: true, requireTLS, url: href });
  return {
    kind: 'smtp',
    async send(message) {
      try {
        await transporter.sendMail({ from: sender, to: message.to, subject: message.subject, text: message.text });
      } catch (error) {
        throw withoutAddresses(error, sender.address);
      }
    },
    async close() {
      // `force` also ends the connections in the middle of a send, so nothing holds the process.
      (transporter.close as (options?: { force?: boolean }) => void)({ force: true });
    },
  };
}

/** Something shaped like an email address, as relays echo one (`<ada@example.com>`, `ada@example.com`). */
const ADDRESS = /[^\s<>@"',;:()[\]]+@[^\s<>@"',;:()[\]]+/g;

/**
 * The relay's refusal without the recipient's address: relays echo it (`550 5.1.1 <ada@example.com>:
 * Recipient address rejected`), nodemailer adds it to the error (`rejected`, `rejectedErrors`), and
 * the app logs the error (`onBackgroundError`). Logs name users by id, never by email: an erased
 * account's address would stay in them. Kept: what tells the operator what went wrong (the relay's
 * words, `code`, `responseCode`, `command`, `permanent`) and the sender, which is configuration.
 */
function withoutAddresses(error: unknown, sender: string): unknown {
  if (!(error instanceof Error)) return error;
  const hide = (text: string) => text.replace(ADDRESS, (address) => (address.toLowerCase() === sender.toLowerCase() ? address : 'recipient'));
  const safe = new Error(hide(error.message)) as Error & Record<string, unknown>;
  safe.name = error.name;
  safe.stack = hide(error.stack ?? '');
  const fields = error as Error & Record<string, unknown>;
  for (const key of ['code', 'responseCode', 'command', 'permanent']) if (fields[key] !== undefined) safe[key] = fields[key];
  if (typeof fields.response === 'string') safe.response = hide(fields.response);
  return safe;
}

function senderOf(from: string): { name: string; address: string } {
  try {
    const { name, address } = parseMailbox(from);
    return { name: name ?? '', address };
  } catch (error) {
    throw new TypeError(`Mail: the sender ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Tests: every message, in order. */
export function capturedMailTransport(): MailTransport & { readonly messages: MailMessage[] } {
  const messages: MailMessage[] = [];
  return {
    kind: 'captured',
    messages,
    async send(message) {
      messages.push({ ...message });
    },
  };
}

/**
 * The transport an app gets from its configuration: SMTP when `SMTP_URL` is set; otherwise the
 * log in development, and in production a transport that only warns (no link in the log).
 */
export function mailTransportFor(options: { production: boolean; smtpUrl: string | undefined; from: string; logger: MailLogger; smtp?: SmtpOptions }): MailTransport {
  if (options.smtpUrl !== undefined && options.smtpUrl !== '') return smtpMailTransport(options.smtpUrl, options.from, options.smtp);
  return options.production ? unconfiguredMailTransport(options.logger) : logMailTransport(options.logger);
}
