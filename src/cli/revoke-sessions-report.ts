/**
 * `livecomponents revoke-sessions`: what a run says on standard output — the counts per kind as each
 * stage ends (tokens, sessions, trusted devices), and for a run ended early (a signal, a failure) what
 * was done and what was not — and the one-line summary its security event carries. The counts are
 * the run's own, filled in as each piece commits.
 */
import type { CommandIo } from './command.js';
import type { DeviceCounts } from './revoke-sessions-devices.js';
import { emptySessionCounts, type SessionCounts } from './revoke-sessions-session-keys.js';
import { emptyTokenCounts, type TokenCounts } from './revoke-sessions-tokens.js';

/** The stage a run is in, in the order they come. */
export type Stage = 'tokens' | 'sessions' | 'devices';

export interface RunReport {
  /** What was done so far, counted as each piece commits. */
  readonly revoked: TokenCounts;
  readonly sessions: SessionCounts;
  readonly devices: DeviceCounts;
  stage: Stage;
  /** The store the sessions are in, said before their counts. */
  where: string;
  /** Said with the sessions' counts when no session of this framework is under the prefix. */
  empty: string | undefined;
  /** One line of output, after the command's name. */
  line(text: string): void;
  printTokens(): void;
  printSessions(): void;
  printDevices(): void;
  /** How many tokens, session keys and trusted-device lists were found (revoked, ended, or in a dry run counted). */
  found(): number;
  /** Every count in one sentence, for the security event. */
  counted(): string;
  /**
   * A run ended before its last stage (a signal, a failure): the counts of the stage under way, then
   * what was done and what was not. Said alike for both: a failed run's sessions ended went unprinted.
   * @returns what was not done, for the event
   */
  printSoFar(why: string): string;
}

/** The report of one run (`dryRun`: counted, nothing changed), printing to `io.out`. */
export function createReport(io: Pick<CommandIo, 'out'>, dryRun: boolean): RunReport {
  const verb = dryRun ? 'would be revoked' : 'revoked';
  const report: RunReport = {
    revoked: emptyTokenCounts(),
    sessions: emptySessionCounts(),
    devices: { accounts: 0, devices: 0 },
    stage: 'tokens',
    where: '',
    empty: undefined,
    line: (text) => io.out(`revoke-sessions: ${text}`),
    printTokens() {
      const { revoked, line } = report;
      line(`access tokens: ${revoked.accessTokens} ${verb}`);
      line(`browser sign-ins: ${revoked.webSignIns} ${verb}`);
      line(`refresh tokens: ${revoked.refreshTokens} ${verb}`);
      line(`password reset tokens: ${revoked.passwordResets} ${dryRun ? 'would be spent' : 'spent (unused ones)'}`);
    },
    printSessions() {
      const { sessions, line } = report;
      const ended = dryRun ? 'would be ended' : 'ended';
      const deleted = dryRun ? 'would be deleted' : 'deleted';
      line(`sessions in ${report.where}:`);
      if (report.empty !== undefined) line(report.empty);
      line(`sessions signed in: ${sessions.signedIn} ${ended}`);
      line(`sessions anonymous: ${sessions.anonymous} ${ended}`);
      line(`component states: ${sessions.componentStates} ${deleted}`);
      line(`csrf nonces: ${sessions.csrfNonces} ${deleted}`);
    },
    printDevices() {
      const { devices } = report;
      report.line(`trusted devices of ${devices.accounts} ${devices.accounts === 1 ? 'account' : 'accounts'}: ${devices.devices} ${dryRun ? 'would be forgotten' : 'forgotten'}`);
    },
    found() {
      const { revoked, sessions, devices } = report;
      return (
        revoked.accessTokens + revoked.webSignIns + revoked.refreshTokens + revoked.passwordResets +
        sessions.signedIn + sessions.anonymous + sessions.componentStates + sessions.csrfNonces + devices.accounts
      );
    },
    counted() {
      const { revoked, sessions, devices } = report;
      return (
        `${revoked.accessTokens} access tokens, ${revoked.webSignIns} browser sign-ins and ${revoked.refreshTokens} refresh tokens revoked, ` +
        `${revoked.passwordResets} reset tokens spent, ${sessions.signedIn + sessions.anonymous} sessions ended, ${devices.devices} trusted devices forgotten`
      );
    },
    printSoFar(why) {
      const { stage } = report;
      if (stage === 'tokens') report.printTokens();
      else if (stage === 'sessions') report.printSessions();
      else report.printDevices();
      const notDone =
        stage === 'tokens'
          ? 'the tokens of the users not reached yet, every session and every trusted device'
          : stage === 'sessions'
            ? `the sessions not reached yet and every trusted device${dryRun ? '' : ' (the tokens above are all revoked)'}`
            : `the trusted devices not reached yet${dryRun ? '' : ' (the tokens and sessions above are all done)'}`;
      report.line(`${why}: ${dryRun ? 'counted' : 'done'} only what is counted above; not ${dryRun ? 'counted' : 'done'}: ${notDone}: run it again to finish`);
      return notDone;
    },
  };
  return report;
}
