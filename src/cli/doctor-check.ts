/** One line of the doctor's report, as every group of checks (services, folders) builds it. */
export interface CheckResult<Name extends string> {
  readonly name: Name;
  readonly ok: boolean;
  readonly summary: string;
  readonly problems: readonly string[];
}

export const passed = <Name extends string>(name: Name, summary: string): CheckResult<Name> => ({ name, ok: true, summary, problems: [] });
export const failed = <Name extends string>(name: Name, problem: string): CheckResult<Name> => ({ name, ok: false, summary: '', problems: [problem] });
/** Passed when `problems` is empty. */
export const checked = <Name extends string>(name: Name, problems: string[], summary: string): CheckResult<Name> => ({ name, ok: problems.length === 0, summary, problems });
