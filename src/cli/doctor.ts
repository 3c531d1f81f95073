/**
 * `livecomponents doctor`: the production checklist (PROTOCOL §6) run against an environment
 * without starting anything: no file, network or database is touched — unless `--connect` asks the
 * services themselves too (doctor-services.ts, read-only) and tries the folders the app writes to
 * (doctor-files.ts: a probe file created and removed in each, and the free space of their disks).
 * One line per check, or per problem of a failing check; exit code 1 when any check fails.
 */
import { CHECKS, type CheckName } from '../ops/config-rules.js';
import { runFileChecks, type FileCheckName, type FileCheckOptions } from './doctor-files.js';
import { checkListen, type ListenCheckName } from './doctor-listen.js';
import { checkLogCollector, type LogCollectorCheckName } from './doctor-log-collector.js';
import { checkMovedData, type MovedCheckName } from './move-data-doctor.js';
import { runServiceChecks, type ServiceCheckName, type ServiceCheckOptions } from './doctor-services.js';
import { ENV_VARIABLES, invalidVariables, parseEnv, type AppConfig, type ConfigIssue, type EnvVariable } from '../ops/config.js';

export interface DoctorCheckResult {
  readonly name: CheckName | ServiceCheckName | ListenCheckName | LogCollectorCheckName | FileCheckName | MovedCheckName;
  readonly ok: boolean;
  /** What was found, when the check passed. */
  readonly summary: string;
  /** One sentence per problem, each starting with the variable to change. */
  readonly problems: readonly string[];
}

export interface DoctorReport {
  /** True when no check failed. */
  readonly ok: boolean;
  /** Whether the production rules applied (`NODE_ENV=production`, or the `production` option). */
  readonly production: boolean;
  readonly checks: readonly DoctorCheckResult[];
  /** The text output: `ok  NAME: summary` or `FAIL NAME: problem`, one line each. */
  readonly lines: readonly string[];
}

export interface DoctorOptions {
  /** Check as if `NODE_ENV=production`, whatever the environment says. @default false */
  production?: boolean;
}

/** The check that shows each variable's format problems; variables no check claims go to `config`. */
const OWNER = new Map<EnvVariable, CheckName>(CHECKS.flatMap((check) => check.variables.map((v) => [v, check.name] as const)));

/**
 * Runs every check of the checklist on `env`.
 * @example
 * const report = runDoctor(process.env, { production: true });
 * for (const line of report.lines) console.log(line);
 */
export function runDoctor(env: Readonly<Record<string, string | undefined>>, options: DoctorOptions = {}): DoctorReport {
  const { config, checks } = environmentChecks(env, options);
  return report(checks, config.production);
}

/**
 * `runDoctor`, then the checks only the services and this machine can answer (`doctor --connect`):
 * Redis, the SQL database and the clocks, asked read-only; then `HOST`:`PORT` (and `METRICS_PORT`),
 * listened on and closed at once (`listen`); a syslog or OTLP collector, connected to and closed at
 * once (`log-collector`); then the folders the app writes to (`data-dir`, `database-files`,
 * `log-file`), tried with a probe file each, and their free space.
 */
export async function runDoctorConnected(
  env: Readonly<Record<string, string | undefined>>,
  options: DoctorOptions & ServiceCheckOptions & FileCheckOptions = {},
): Promise<DoctorReport> {
  const { config, checks, invalid } = environmentChecks(env, options);
  const connected = [
    ...(await runServiceChecks(config, options)),
    // Its own line: a file move-data moved fails here, and the file's other checks still report.
    await checkMovedData(config, options.cwd),
    await checkListen(config, options.timeoutMs ?? 3_000),
    await checkLogCollector(config, options.timeoutMs ?? 3_000),
    ...runFileChecks(config, options),
  ];
  return report([...checks, ...connected.map((c) => notCheckedIfInvalid(c, invalid))], config.production);
}

/**
 * The checks of a service that read one variable: when it does not parse, the configuration holds
 * its default (the SQLite file of `npm start`, no Redis), and a line about that one would read as the answer.
 */
const READS: Partial<Record<DoctorCheckResult['name'], readonly EnvVariable[]>> = {
  database: ['DATABASE_URL'],
  'database-files': ['DATABASE_URL'],
  'moved-data': ['DATABASE_URL', 'REDIS_URL'],
  // An invalid REDIS_URL is none in the configuration: "no REDIS_URL … embedded SQLite" would be wrong.
  'redis-server': ['REDIS_URL'],
  listen: ['HOST', 'PORT', 'METRICS_PORT'],
  'log-collector': ['LOG_DESTINATION'],
};

function notCheckedIfInvalid(check: DoctorCheckResult, invalid: ReadonlySet<EnvVariable>): DoctorCheckResult {
  const variable = READS[check.name]?.find((v) => invalid.has(v));
  if (variable === undefined) return check;
  return { name: check.name, ok: true, summary: `not checked: ${variable} does not parse (see config)`, problems: [] };
}

/** The checks that read only the environment, and the configuration they read. */
function environmentChecks(
  env: Readonly<Record<string, string | undefined>>,
  options: DoctorOptions,
): { config: AppConfig; checks: DoctorCheckResult[]; invalid: ReadonlySet<EnvVariable> } {
  const { config, issues } = parseEnv(options.production ? { ...env, NODE_ENV: 'production' } : env);
  // `--production` checks as if NODE_ENV were production, but the NODE_ENV the app will get still
  // has to parse: `PRODUCTION` or `prod` passed here and stopped start-up.
  if (options.production) issues.unshift(...parseEnv({ NODE_ENV: env.NODE_ENV }).issues.filter((i) => i.variable === 'NODE_ENV'));
  const invalid = invalidVariables(issues);
  const formatProblems = (name: CheckName): ConfigIssue[] =>
    issues.filter((i) => (i.variable === undefined ? 'config' : (OWNER.get(i.variable) ?? 'config')) === name);
  const hint = config.production ? '' : ' (production rules off: run with --production to apply them)';
  const checks: DoctorCheckResult[] = [
    result('config', formatProblems('config'), `${ENV_VARIABLES.length} variables read; NODE_ENV=${config.NODE_ENV}${hint}`),
    ...CHECKS.map((check) => {
      const outcome = check.run(config);
      const own = outcome.problems.filter((p) => p.variable === undefined || !invalid.has(p.variable));
      return result(check.name, [...formatProblems(check.name), ...own], outcome.summary);
    }),
  ];
  return { config, checks, invalid };
}

function report(checks: readonly DoctorCheckResult[], production: boolean): DoctorReport {
  const lines = checks.flatMap((c) => (c.ok ? [`ok  ${c.name}: ${c.summary}`] : c.problems.map((p) => `FAIL ${c.name}: ${p}`)));
  return { ok: checks.every((c) => c.ok), production, checks, lines };
}

function result(name: CheckName, problems: readonly ConfigIssue[], summary: string): DoctorCheckResult {
  return { name, ok: problems.length === 0, summary, problems: problems.map((p) => p.message) };
}
