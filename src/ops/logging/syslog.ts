/**
 * `syslog:udp://HOST:PORT` and `syslog:tcp://HOST:PORT`: RFC 5424 messages over UDP (RFC 5426,
 * one message per datagram) or TCP (RFC 6587 octet counting, reconnecting with backoff).
 *
 * Hand-written rather than pino-syslog: pino-syslog only reformats stdin to stdout and leaves the
 * network to pino-socket, and neither frames TCP with octet counting, which is what lets a JSON
 * MSG carry newlines safely. The formatter is ~80 lines and the sockets are Node's own.
 *
 * Runs in the main thread: sends are asynchronous socket writes, so nothing blocks a request, and
 * `flush`/`close` can wait for them directly.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect, isIP, isIPv6, type Socket as TcpSocket } from 'node:net';
import { hostname } from 'node:os';
import { MAX_TIMER_MS } from '../../core/deadline.js';
import { LogConfigError, timerOption, wholeOption, type LogDestination } from './destination.js';
import { parseLine } from './record.js';
import type { DeliveryReport, LogSink } from './sink.js';
import { fitDatagram, formatSyslog, octetFrame, type SyslogHeaderFields } from './syslog-format.js';

export interface SyslogLogOptions {
  /** Largest UDP datagram sent; longer records are shortened (see `fitDatagram`). RFC 5426 §3.2. @default 2048 */
  maxDatagramBytes?: number;
  /**
   * TCP: messages kept while disconnected; beyond it the oldest are dropped (reported once per outage).
   * UDP: datagrams waiting to be sent (for the host name's lookup, or for room in the kernel's send
   * buffer); beyond it new ones are dropped (reported once until all have gone). @default 10_000
   */
  maxQueued?: number;
  /** TCP: first reconnect delay, doubled up to `maxReconnectMs`; in ms, at most 2^31 − 1 (a timer's limit). @default 100 */
  reconnectMs?: number;
  /** At most 2^31 − 1 ms. @default 30_000 */
  maxReconnectMs?: number;
  /**
   * How long `flush`/`close()` wait for queued TCP messages (then `close` drops them), in ms, at most
   * `MAX_SYSLOG_CLOSE_TIMEOUT_MS` (2^31 − 1 less the second `close()` holds the process beyond it).
   * @default 5_000
   */
  closeTimeoutMs?: number;
  /**
   * TCP: how long a connection attempt may take; then it counts as failed (reported, retried). A
   * firewall that drops packets would otherwise leave it pending for the kernel's ~2 minutes. At
   * most 2^31 − 1 (a timer's limit).
   * @default 5_000
   */
  connectTimeoutMs?: number;
  /** HOSTNAME field. @default os.hostname() */
  hostname?: string;
}

type SyslogDestination = Extract<LogDestination, { kind: 'syslog' }>;

/** RFC 5426: every receiver MUST take 480 bytes; a smaller limit could not hold a header. */
const MIN_DATAGRAM = 480;
/** The largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;

/** How much longer than `closeTimeoutMs` a TCP `close()` holds the process (for the FIN). */
const CLOSE_HOLD_EXTRA_MS = 1_000;

/**
 * The longest TCP `closeTimeoutMs`: `close()` holds the process with a timer of it plus a second,
 * and Node fires a timer of more than 2^31 − 1 ms after 1 ms (the process could end mid-close).
 */
export const MAX_SYSLOG_CLOSE_TIMEOUT_MS = MAX_TIMER_MS - CLOSE_HOLD_EXTRA_MS;

export function createSyslogSink(dest: SyslogDestination, appName: string, options: SyslogLogOptions, report: DeliveryReport): LogSink {
  const header: SyslogHeaderFields = { facility: dest.facility, hostname: options.hostname ?? hostname(), appName, procId: String(process.pid) };
  if (dest.transport === 'udp') return createUdpSink(dest, header, options, report);
  return createTcpSink(dest, header, options, report);
}

function createUdpSink(dest: SyslogDestination, header: SyslogHeaderFields, options: SyslogLogOptions, { onError, onDropped }: DeliveryReport): LogSink {
  const maxBytes = options.maxDatagramBytes ?? 2048;
  if (!Number.isInteger(maxBytes) || maxBytes < MIN_DATAGRAM || maxBytes > MAX_DATAGRAM) {
    throw new LogConfigError('LOG_OPTION_INVALID', 'syslog.maxDatagramBytes', `must be an integer from ${MIN_DATAGRAM} to ${MAX_DATAGRAM}, got ${maxBytes}`);
  }
  // IPv6 by literal address (`[::1]`); a host name is looked up as IPv4.
  const family = isIPv6(dest.host) ? 6 : 4;
  const socket: UdpSocket = createSocket(family === 6 ? 'udp6' : 'udp4');
  socket.unref();
  socket.on('error', onError);
  // The name is resolved once, not on every send (dgram would look it up per datagram); a failed
  // send forgets it, so a moved server is found again. An address given literally needs no lookup.
  let ip: string | undefined = isIP(dest.host) === 0 ? undefined : dest.host;
  /** Datagrams logged while the name is being looked up, in write order: sent once it answers. */
  const waiting: Buffer[] = [];
  let looking = false;
  const maxQueued = wholeOption('syslog.maxQueued', options.maxQueued, 10_000);
  /** Sent but not yet called back (`flush` and `close` wait for them). */
  let inFlight = 0;
  let failing = false;
  /** `maxQueued` datagrams are waiting: new ones are dropped (reported once until none is in flight). */
  let full = false;
  const waiters: (() => void)[] = [];
  let closing: Promise<void> | undefined;
  const done = (error: Error | null | undefined): void => {
    inFlight--;
    if (error) {
      ip = undefined;
      onDropped(1);
      // One report per outage, not one per datagram.
      if (!failing) onError(new Error(`syslog udp://${dest.host}:${dest.port}: ${error.message}`, { cause: error }));
      failing = true;
    } else failing = false;
    if (inFlight === 0) {
      full = false;
      for (const w of waiters.splice(0)) w();
    }
  };
  /** Hands `datagram` to the socket; one dgram refuses at once (port 0: ERR_SOCKET_BAD_PORT) is dropped like a failed send. */
  const send = (datagram: Buffer, to: string): void => {
    try {
      socket.send(datagram, dest.port, to, done);
    } catch (error) {
      done(error as Error);
    }
  };
  const lookUp = (): void => {
    looking = true;
    lookup(dest.host, { family }).then(
      ({ address }) => {
        looking = false;
        ip = address;
        // In write order, before any line logged from now on (those are sent at once).
        for (const datagram of waiting.splice(0)) send(datagram, address);
      },
      (error: Error) => {
        looking = false;
        for (const _ of waiting.splice(0)) done(error);
      },
    );
  };
  const drained = (): Promise<void> => new Promise((resolve) => (inFlight === 0 ? resolve() : waiters.push(resolve)));
  return {
    write(line) {
      if (closing !== undefined) return;
      // What waits holds its bytes and a callback: unbounded, a resolver that does not answer (its
      // timeouts, for every line meanwhile) or a send buffer that stays full held every line logged
      // meanwhile, at the app's request rate. Only those count: a send Node calls back on the next
      // tick at the earliest, so counting every send not yet called back dropped all but `maxQueued`
      // of a burst logged in one go (a loop logging a line per row) to a destination taking them all.
      if (waiting.length + (ip === undefined ? 0 : socket.getSendQueueCount()) >= maxQueued) {
        onDropped(1);
        if (!full) onError(new Error(`syslog udp://${dest.host}:${dest.port}: ${maxQueued} datagrams are waiting to be sent; dropping new ones until they have gone`));
        full = true;
        return;
      }
      const datagram = fitDatagram(line, parseLine(line), header, maxBytes);
      inFlight++;
      if (ip !== undefined) {
        send(datagram, ip);
        return;
      }
      waiting.push(datagram);
      if (!looking) lookUp();
    },
    flush(cb) {
      void drained().then(() => cb());
    },
    close() {
      closing ??= drained().then(() => new Promise<void>((resolve) => socket.close(() => resolve())));
      return closing;
    },
  };
}

function createTcpSink(dest: SyslogDestination, header: SyslogHeaderFields, options: SyslogLogOptions, { onError, onDropped }: DeliveryReport): LogSink {
  const maxQueued = wholeOption('syslog.maxQueued', options.maxQueued, 10_000);
  // Timers' delays: Node fires a longer one after 1 ms (a reconnect loop without pause, a close that
  // gives up at once).
  const baseDelay = timerOption('syslog.reconnectMs', options.reconnectMs, 100);
  const maxDelay = Math.max(timerOption('syslog.maxReconnectMs', options.maxReconnectMs, 30_000), baseDelay);
  const closeTimeout = timerOption('syslog.closeTimeoutMs', options.closeTimeoutMs, 5_000, MAX_SYSLOG_CLOSE_TIMEOUT_MS);
  const connectTimeout = timerOption('syslog.connectTimeoutMs', options.connectTimeoutMs, 5_000);
  const queue: Buffer[] = [];
  let socket: TcpSocket | undefined;
  let connected = false;
  let delay = baseDelay;
  let timer: NodeJS.Timeout | undefined;
  let dropReported = false;
  let failing = false;
  let closing: Promise<void> | undefined;
  /** Set once `close` gave up waiting: no more reconnects. */
  let ended = false;
  let flushWaiters: (() => void)[] = [];

  function open(): void {
    timer = undefined;
    const s = connect({ host: dest.host, port: dest.port });
    socket = s;
    // Logging never keeps a process alive by itself (`close` holds it while it waits).
    s.unref();
    s.setNoDelay(true);
    s.setTimeout(connectTimeout, () => {
      if (!connected) s.destroy(new Error(`connect timed out after ${connectTimeout} ms`));
    });
    s.on('connect', () => {
      s.setTimeout(0);
      connected = true;
      failing = false;
      dropReported = false;
      delay = baseDelay;
      pump();
    });
    s.on('error', (error) => {
      // One report per outage, not one per retry.
      if (!failing) onError(new Error(`syslog tcp://${dest.host}:${dest.port}: ${error.message}`, { cause: error }));
      failing = true;
    });
    s.on('drain', pump);
    s.on('close', () => {
      connected = false;
      socket = undefined;
      if (!ended) {
        timer = setTimeout(open, delay).unref();
        delay = Math.min(delay * 2, maxDelay);
      }
    });
  }

  /**
   * Hands queued frames to the socket until its buffer is full (then 'drain' calls again), so a
   * slow server fills the bounded queue rather than memory. Plain TCP has no acknowledgement: a
   * frame in the kernel counts as sent.
   */
  function pump(): void {
    const s = socket;
    if (!connected || s === undefined) return;
    // A frame still in Node's buffer (not yet in the kernel) when the socket breaks or is destroyed at
    // close fails its callback: counted as dropped like the queued ones.
    while (queue.length > 0 && !s.writableNeedDrain) s.write(queue.shift() as Buffer, countIfLost);
    if (flushWaiters.length > 0 && queue.length === 0) {
      const waiting = flushWaiters;
      flushWaiters = [];
      s.write(Buffer.alloc(0), () => waiting.forEach((w) => w()));
    }
  }

  function countIfLost(error: Error | null | undefined): void {
    if (error) onDropped(1);
  }

  function enqueue(frame: Buffer): void {
    queue.push(frame);
    if (queue.length > maxQueued) {
      queue.shift();
      onDropped(1);
      if (!dropReported) onError(new Error(`syslog tcp://${dest.host}:${dest.port}: queue full, dropping the oldest messages`));
      dropReported = true;
    }
    pump();
  }

  /** True once everything queued so far is in the kernel; false if that took longer than `closeTimeout`. */
  function whenSent(): Promise<boolean> {
    const sent = new Promise<boolean>((done) => {
      flushWaiters.push(() => done(true));
      pump();
    });
    return Promise.race([sent, sleep(closeTimeout).then(() => false)]);
  }

  open();
  return {
    write(line) {
      if (closing === undefined) enqueue(octetFrame(formatSyslog(line, parseLine(line), header)));
    },
    flush(cb) {
      void whenSent().then((sent) => cb(sent ? undefined : new Error(`syslog tcp://${dest.host}:${dest.port}: not connected`)));
    },
    close() {
      closing ??= (async () => {
        // The socket and timers are unref'd; a process whose server has closed would end while this
        // waits, dropping the queue unreported and skipping its own exit code. Hold it, at most this long.
        const hold = setTimeout(() => undefined, closeTimeout + CLOSE_HOLD_EXTRA_MS);
        try {
          // Reconnect now rather than after the backoff: the queue may still go out within the wait.
          if (timer !== undefined) {
            clearTimeout(timer);
            open();
          }
          const sent = await whenSent();
          ended = true;
          clearTimeout(timer);
          if (!sent && queue.length > 0) {
            onError(new Error(`syslog tcp://${dest.host}:${dest.port}: closed with ${queue.length} message(s) undelivered`));
            onDropped(queue.length);
          }
          queue.length = 0;
          const s = socket;
          if (s === undefined) return;
          if (!connected) return void s.destroy();
          // A peer that never answers the FIN does not hold the process: destroyed after a second.
          await new Promise<void>((done) => {
            const give = setTimeout(() => s.destroy(), 1_000);
            s.once('close', () => (clearTimeout(give), done()));
            s.end();
          });
        } finally {
          clearTimeout(hold);
        }
      })();
      return closing;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}
