/**
 * Outgoing mail (password reset links) through one small interface, so the service never knows
 * how mail leaves:
 *
 * - development: `logMailTransport` prints the message, link included, to stderr, and logs that it
 *   did (without the text): the log stream redacts every `token=…`, which would make the link
 *   useless, and the log must stay free of secrets whatever the environment;
 * - production: `smtpMailTransport` sends through `nodemailer` to `SMTP_URL`;
 * - production without `SMTP_URL`: `unconfiguredMailTransport` logs a warning without the link;
 * - tests: `capturedMailTransport` keeps the messages in memory.
 */
import nodemailer from 'nodemailer';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface MailTransport {
  /** Human name for logs (`log`, `smtp`, `captured`, `none`). */
  readonly kind: string;
  send(message: MailMessage): Promise<void>;
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

/**
 * `SMTP_URL` (`smtp://user:pass@host:587`, `smtps://…`) through nodemailer.
 * @param from the sender address, for example `LiveComponents <no-reply@example.com>`
 */
export function smtpMailTransport(url: string, from: string): MailTransport {
  const transporter = nodemailer.createTransport(url);
  return {
    kind: 'smtp',
    async send(message) {
      await transporter.sendMail({ from, to: message.to, subject: message.subject, text: message.text });
    },
  };
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
export function mailTransportFor(options: { production: boolean; smtpUrl: string | undefined; from: string; logger: MailLogger }): MailTransport {
  if (options.smtpUrl !== undefined && options.smtpUrl !== '') return smtpMailTransport(options.smtpUrl, options.from);
  return options.production ? unconfiguredMailTransport(options.logger) : logMailTransport(options.logger);
}
