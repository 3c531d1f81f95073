/**
 * deploy/ansible/ with ansible-playbook: `--syntax-check` of the playbook and of the task files it
 * includes per instance, the order in which ansible resolves the restart of one instance
 * (`--list-tasks`), and the playbook's templating steps run for real on localhost (into a temporary
 * folder, not /etc):
 * - the nginx site, with every instance in rotation and with one marked `down` (then `nginx -t`);
 * - the environment file, through the playbook's own `validate` (the real doctor, run from the
 *   sources, on the file as sh reads it): a rejected file never replaces the live one, values with
 *   quotes, `$`, backslashes and backticks come back verbatim in sh and in systemd's reading, and a
 *   value with a line break is refused.
 * The playbook is not run against a host here (that needs a Debian machine with systemd, nginx and
 * the registry).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runDoctor } from '../../src/cli/doctor.js';
import { mainConfig } from './nginx-harness.js';
import { at, DEPLOY, haveTool, list, record, ROOT, run, yamlDocument, yamlDocuments } from './tools.js';

const HAVE_ANSIBLE = haveTool('ansible-playbook', '--version', 'apt-get install ansible-core', 'the Ansible playbook checks');

type Task = Record<string, unknown>;
const SITE_PATH = '/etc/nginx/conf.d/livecomponents.conf';
const ENV_PATH = '/etc/livecomponents/livecomponents.env';
/** The app's default drain on SIGTERM (src/ops/shutdown: drainMs = min(1 s, graceMs / 2)). */
const APP_DRAIN_SECONDS = 1;

/**
 * An EnvironmentFile= as systemd reads it: the state machine of parse_env_file_internal() in
 * systemd's src/basic/env-file.c (load_env_file(), which does no `$VAR` expansion), re-implemented:
 * `#`/`;` comment lines; unquoted values with backslash escapes and trailing blanks dropped;
 * '…' verbatim (no escapes at all); "…" where a backslash escapes only " \ ` $ (and a newline) and is
 * kept before anything else.
 */
function systemdEnvironmentFile(text: string): Record<string, string> {
  const WHITESPACE = ' \t\n\r';
  const NEWLINE = '\n\r';
  const out: Record<string, string> = {};
  let state: 'preKey' | 'key' | 'preValue' | 'value' | 'valueEscape' | 'single' | 'double' | 'doubleEscape' | 'comment' | 'commentEscape' = 'preKey';
  let key = '';
  let value = '';
  let trailingBlankAt = -1;
  const push = () => {
    out[key.replace(/[ \t\r\n]+$/, '')] = value;
    key = '';
    value = '';
  };
  for (const c of text) {
    switch (state) {
      case 'preKey':
        if ('#;'.includes(c)) state = 'comment';
        else if (!WHITESPACE.includes(c)) [state, key] = ['key', c];
        break;
      case 'key':
        if (NEWLINE.includes(c)) [state, key] = ['preKey', ''];
        else if (c === '=') state = 'preValue';
        else key += c;
        break;
      case 'preValue':
        if (NEWLINE.includes(c)) [state] = ['preKey', push()];
        else if (c === "'") state = 'single';
        else if (c === '"') state = 'double';
        else if (c === '\\') state = 'valueEscape';
        else if (!WHITESPACE.includes(c)) [state, value, trailingBlankAt] = ['value', value + c, -1];
        break;
      case 'value':
        if (NEWLINE.includes(c)) {
          if (trailingBlankAt >= 0) value = value.slice(0, trailingBlankAt);
          [state] = ['preKey', push()];
        } else if (c === '\\') [state, trailingBlankAt] = ['valueEscape', -1];
        else {
          if (!WHITESPACE.includes(c)) trailingBlankAt = -1;
          else if (trailingBlankAt < 0) trailingBlankAt = value.length;
          value += c;
        }
        break;
      case 'valueEscape':
        state = 'value';
        if (!NEWLINE.includes(c)) value += c;
        break;
      case 'single':
        if (c === "'") state = 'preValue';
        else value += c;
        break;
      case 'double':
        if (c === '"') state = 'preValue';
        else if (c === '\\') state = 'doubleEscape';
        else value += c;
        break;
      case 'doubleEscape':
        state = 'double';
        if ('"\\`$'.includes(c)) value += c;
        else if (c !== '\n') value += `\\${c}`;
        break;
      case 'comment':
        if (c === '\\') state = 'commentEscape';
        else if (NEWLINE.includes(c)) state = 'preKey';
        break;
      case 'commentEscape':
        state = NEWLINE.includes(c) ? 'preKey' : 'comment';
        break;
    }
  }
  if (!['preKey', 'key', 'comment', 'commentEscape'].includes(state)) {
    if (state === 'value' && trailingBlankAt >= 0) value = value.slice(0, trailingBlankAt);
    push();
  }
  return out;
}

describe('systemd EnvironmentFile reading (the re-implementation the env file test relies on)', () => {
  it('follows systemd’s quoting rules', () => {
    const text = [
      '# comment',
      '; comment',
      'A=plain value  ',
      "B='it''s' \t",
      'C="a \\"b\\" \\$HOME \\` \\\\ \\n"',
      "D='no \\escape'",
      'E=x\\ y\\',
      'F=',
      'G="two',
      'lines"',
    ].join('\n');
    expect(systemdEnvironmentFile(text)).toEqual({
      A: 'plain value',
      B: 'its',
      C: 'a "b" $HOME ` \\ \\n',
      D: 'no \\escape',
      E: 'x yF=',
      G: 'two\nlines',
    });
  });
});

describe.skipIf(!HAVE_ANSIBLE)('ansible-playbook', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-ansible-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = {
    ...process.env,
    ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'),
    ANSIBLE_REMOTE_TEMP: join(dir, 'tmp'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_RETRY_FILES_ENABLED: 'false',
    ANSIBLE_PYTHON_INTERPRETER: 'auto_silent',
  };
  const inventory = join(dir, 'inventory.ini');
  writeFileSync(inventory, '[livecomponents]\napp1.test ansible_host=127.0.0.1\n');
  const playbook = join(DEPLOY, 'ansible/playbook.yml');
  const [, deploy] = yamlDocuments('ansible/playbook.yml')[0] as unknown[];
  const playVars = record(deploy, 'vars');
  const tasks = list(deploy, 'tasks') as Task[];
  const taskFile = (name: string) => yamlDocument(`ansible/${name}`) as Task[];
  const module = (task: Task) => Object.keys(task).find((k) => k.startsWith('ansible.builtin.')) ?? '';
  /** Every task of the playbook and its task files that writes `path` (copy or template). */
  const writersOf = (path: string) =>
    [...tasks, ...taskFile('restart-instance.yml'), ...taskFile('nginx-site.yml')].filter(
      (t) => ['ansible.builtin.copy', 'ansible.builtin.template'].includes(module(t)) && at(t, module(t), 'dest') === path,
    );

  const restartWrapper = join(dir, 'restart-wrapper.yml');
  writeFileSync(
    restartWrapper,
    stringify([{ hosts: 'livecomponents', gather_facts: false, vars: { lc_port: 3001 }, tasks: [{ 'ansible.builtin.import_tasks': join(DEPLOY, 'ansible/restart-instance.yml') }] }]),
  );

  /** Runs `localTasks` in one play on localhost (local connection), with `vars`; returns the result. */
  const runLocal = (name: string, vars: Record<string, unknown>, localTasks: Task[]) => {
    const file = join(dir, `${name}.yml`);
    writeFileSync(file, stringify([{ hosts: 'localhost', connection: 'local', gather_facts: false, vars, tasks: localTasks }]));
    return run('ansible-playbook', ['-i', 'localhost,', file], { env, timeoutMs: 120_000 });
  };

  it('--syntax-check accepts the playbook', () => {
    const result = run('ansible-playbook', ['-i', inventory, '--syntax-check', playbook], { env });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/ERROR|WARNING/);
  });

  it('--syntax-check accepts the per-instance task file and the nginx site it imports (statically, so they are parsed)', () => {
    const result = run('ansible-playbook', ['-i', inventory, '--syntax-check', restartWrapper], { env });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/ERROR|WARNING/);
  });

  it('restarts an instance only after nginx was reloaded without it, and waits for nginx’s old workers first', () => {
    // The playbook restarts through restart-instance.yml, once per port, and nothing else restarts.
    const loop = tasks.find((t) => module(t) === 'ansible.builtin.include_tasks');
    expect(at(loop, 'ansible.builtin.include_tasks')).toBe('restart-instance.yml');
    expect(at(loop, 'loop')).toBe('{{ lc_ports }}');
    expect(at(loop, 'loop_control', 'loop_var')).toBe('lc_port');
    expect(tasks.filter((t) => module(t) === 'ansible.builtin.systemd')).toEqual([]);

    // The order ansible resolves (imports expanded), as it will run them.
    const listed = run('ansible-playbook', ['-i', inventory, '--list-tasks', restartWrapper], { env });
    expect(listed.status, listed.stdout + listed.stderr).toBe(0);
    const names = listed.stdout
      .split('\n')
      .map((l) => l.trim().replace(/\s+TAGS: \[.*\]$/, ''))
      .filter((l) => l !== '' && !/^(playbook:|play #|tasks:)/.test(l));
    const step = (re: RegExp, from = 0) => {
      const i = names.findIndex((n, j) => j >= from && re.test(n));
      if (i < 0) throw new Error(`no task matching ${re} after #${from} in:\n${names.join('\n')}`);
      return i;
    };
    const out = step(/^Write the nginx site/);
    const outCheck = step(/^Check the nginx configuration$/, out);
    const outReload = step(/^Reload nginx$/, outCheck);
    const settle = step(/old workers/, outReload);
    const restart = step(/^Restart livecomponents@/, settle);
    const ready = step(/^Wait until livecomponents@.* is Ready$/, restart);
    const back = step(/^Write the nginx site/, ready);
    const backReload = step(/^Reload nginx$/, step(/^Check the nginx configuration$/, back));
    expect(backReload).toBe(names.length - 1);

    // …and with which upstreams marked down: this instance, then none.
    const restartTasks = taskFile('restart-instance.yml');
    const imports = restartTasks.filter((t) => module(t) === 'ansible.builtin.import_tasks');
    expect(imports.map((t) => at(t, 'ansible.builtin.import_tasks'))).toEqual(['nginx-site.yml', 'nginx-site.yml']);
    expect(imports.map((t) => at(t, 'vars', 'lc_nginx_down'))).toEqual([['{{ lc_port }}'], []]);
    expect(restartTasks.indexOf(imports[0] as Task)).toBe(0);
    expect(restartTasks.indexOf(imports[1] as Task)).toBe(restartTasks.length - 1);

    // The pause outlasts the app's drain.
    const pause = restartTasks.find((t) => module(t) === 'ansible.builtin.pause');
    expect(String(at(pause, 'ansible.builtin.pause', 'seconds'))).toMatch(/^\{\{ lc_nginx_settle_seconds \| default\((\d+)\) \}\}$/);
    expect(Number(/default\((\d+)\)/.exec(String(at(pause, 'ansible.builtin.pause', 'seconds')))?.[1])).toBeGreaterThan(APP_DRAIN_SECONDS);
    expect(Number(playVars.lc_nginx_settle_seconds)).toBeGreaterThan(APP_DRAIN_SECONDS);

    // One writer of the site: nginx-site.yml, which checks and reloads right after writing.
    const writers = writersOf(SITE_PATH);
    const siteTasks = taskFile('nginx-site.yml');
    expect(writers).toEqual([siteTasks[0]]);
    expect(siteTasks.map(module)).toEqual(['ansible.builtin.copy', 'ansible.builtin.command', 'ansible.builtin.systemd']);
    expect(at(siteTasks[1], 'ansible.builtin.command')).toBe('nginx -t');
    expect(at(siteTasks[2], 'ansible.builtin.systemd')).toEqual({ name: 'nginx', state: 'reloaded' });
  });

  it('renders the nginx site as the playbook does: every instance in rotation, or one marked down (nginx -t accepts both)', () => {
    const site = writersOf(SITE_PATH)[0];
    if (!site) throw new Error('no task writes the nginx site');
    const content = String(at(site, 'ansible.builtin.copy', 'content')).replaceAll('playbook_dir', 'lc_test_playbook_dir');
    const render = (name: string, down: unknown[]): Task => ({
      name,
      vars: { lc_nginx_down: down },
      'ansible.builtin.copy': { content, dest: join(dir, `${name}.conf`), mode: '0644' },
    });
    const result = runLocal(
      'render-site',
      {
        ...playVars,
        lc_server_name: 'app.example.com',
        lc_tls_cert: join(dir, 'cert.pem'),
        lc_tls_key: join(dir, 'key.pem'),
        lc_test_playbook_dir: join(DEPLOY, 'ansible'),
        lc_test_port: 3001,
      },
      // As restart-instance.yml passes it: the loop variable, templated.
      [render('site-up', []), render('site-down', ['{{ lc_test_port }}'])],
    );
    expect(result.status, result.stdout + result.stderr).toBe(0);

    const up = readFileSync(join(dir, 'site-up.conf'), 'utf8');
    const down = readFileSync(join(dir, 'site-down.conf'), 'utf8');
    for (const nginx of [up, down]) {
      expect(nginx).not.toContain('${LC_');
      expect(nginx).toContain(`ssl_certificate     ${join(dir, 'cert.pem')};`);
      expect(nginx).toContain('server_name app.example.com;');
      expect(nginx).toContain('proxy_set_header X-Forwarded-For   $remote_addr;');
      expect(nginx).toMatch(/^\s*server 127\.0\.0\.1:3002 max_fails=3 fail_timeout=10s;$/m);
      // Never a retried POST: a refresh-token POST sent twice would revoke the session family.
      expect(nginx).toMatch(/^\s*proxy_next_upstream error timeout;$/m);
    }
    expect(up).toMatch(/^\s*server 127\.0\.0\.1:3001 max_fails=3 fail_timeout=10s;$/m);
    expect(down).toMatch(/^\s*server 127\.0\.0\.1:3001 down max_fails=3 fail_timeout=10s;$/m);
    // Nothing else differs (the placeholders in the template's own comments are filled too).
    expect(down.replaceAll(':3001 down', ':3001')).toBe(up);

    const HAVE_NGINX = haveTool('nginx', '-v', 'apt-get install nginx', 'nginx -t on the Ansible-rendered site') && haveTool('openssl', 'version', 'apt-get install openssl', 'nginx -t on the Ansible-rendered site');
    if (!HAVE_NGINX) return;
    const made = run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=app.example.com', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    expect(made.status, made.stderr).toBe(0);
    for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { recursive: true });
    for (const name of ['site-up', 'site-down']) {
      writeFileSync(join(dir, `${name}.nginx.conf`), mainConfig(dir, join(dir, `${name}.conf`)));
      const checked = run('nginx', ['-t', '-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', join(dir, `${name}.nginx.conf`)]);
      expect(checked.status, `${name}: ${checked.stderr}`).toBe(0);
    }
  }, 120_000);

  it('stops below the Node.js the app runs on, and warns below the line the kit is maintained for', () => {
    const floor = tasks.find((t) => module(t) === 'ansible.builtin.assert' && /^Require Node\.js/.test(String(t.name)));
    const warn = tasks.find((t) => module(t) === 'ansible.builtin.debug' && /^Warn when Node\.js/.test(String(t.name)));
    if (!floor || !warn) throw new Error('the playbook no longer has the Node.js version checks');
    expect(playVars.lc_node_supported_major).toBe(22);
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(`>=${String(playVars.lc_node_min_version).replace(/\.0$/, '')}`).toBe(engines);
    const checks = (version: string) => [floor, warn].map((t) => ({ ...t, name: `${version} ${String(t.name)}`, vars: { lc_node_version: { stdout: version } } }));
    const result = runLocal('node-versions', playVars, [...checks('v22.12.0'), ...checks('v20.19.0'), ...checks('v20.11.1')]);
    const out = result.stdout;
    expect(result.status, out).not.toBe(0);
    const section = (version: string, task: string) => out.split('TASK [').find((s) => s.startsWith(`${version} ${task}`)) ?? '';
    expect(section('v22.12.0', 'Require')).toMatch(/^ok: /m);
    expect(section('v22.12.0', 'Warn')).toMatch(/^skipping: /m);
    expect(section('v20.19.0', 'Require')).toMatch(/^ok: /m);
    expect(section('v20.19.0', 'Warn')).toMatch(/WARNING: Node\.js v20\.19\.0 runs the app.*end of life on 2026-04-30/s);
    expect(section('v20.11.1', 'Require')).toMatch(/^fatal: .*Node\.js v20\.11\.1 is too old/ms);
  }, 120_000);

  describe('the environment file', () => {
    const envTask = writersOf(ENV_PATH);
    const lineBreakCheck = tasks.find((t) => module(t) === 'ansible.builtin.assert' && /line break/.test(String(t.name)));
    // A release directory whose `bin/livecomponents.js` runs the real CLI from the sources (tsx) and
    // first records the environment it was given (what sh made of the file).
    const release = join(dir, 'release');
    const seen = join(release, 'seen-env.json');
    mkdirSync(join(release, 'bin'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(release, 'node_modules'));
    writeFileSync(
      join(release, 'bin/livecomponents.js'),
      `import { writeFileSync } from 'node:fs';
import { tsImport } from 'tsx/esm/api';
writeFileSync(${JSON.stringify(seen)}, JSON.stringify(process.env));
const { main } = await tsImport(${JSON.stringify(join(ROOT, 'src/cli/index.ts'))}, import.meta.url);
process.exitCode = await main(process.argv.slice(2));
`,
    );
    const live = join(dir, 'livecomponents.env');
    const hex = (n: number) => randomBytes(n).toString('hex');
    // Every character that means something to sh or systemd inside quotes, in a token the doctor
    // accepts (no white space: it is sent in an Authorization header).
    const awkward = `${hex(32)}'"$HOME\`id\`$(id)\\n\\%i#;'`;
    const secrets = {
      lc_server_name: 'app.example.com',
      lc_tls_cert: '/etc/ssl/app.pem',
      lc_tls_key: '/etc/ssl/app.key',
      lc_state_keys: randomBytes(32).toString('base64'),
      lc_session_secret: randomBytes(32).toString('base64'),
      lc_database_url: 'postgres://livecomponents:secret@db.internal:5432/livecomponents',
      lc_redis_url: 'redis://redis.internal:6379',
      lc_metrics_token: hex(32),
      lc_health_token: awkward,
    };
    /** The assert and the template of the playbook, run as they are but writing `live`. */
    const writeEnvFile = (name: string, values: Record<string, string>) => {
      if (!envTask[0] || !lineBreakCheck) throw new Error('the playbook no longer has the env file task or its line-break check');
      const template = { ...record(envTask[0], 'ansible.builtin.template') };
      delete template.owner;
      delete template.group;
      template.src = join(DEPLOY, 'ansible', String(template.src));
      template.dest = live;
      return runLocal(name, { ...playVars, ...values, lc_release_dir: release }, [lineBreakCheck, { name: 'env file', 'ansible.builtin.template': template }]);
    };

    it('is written by one task, which moves it into place only when the new release’s doctor accepts it', () => {
      expect(envTask.length).toBe(1);
      const validate = String(at(envTask[0], 'ansible.builtin.template', 'validate'));
      expect(validate).toContain('%s');
      expect(validate).toMatch(/\bdoctor --production\b/);
      expect(validate).toContain('{{ lc_release_dir }}');
      // The unit reads the live file only: no task writes it elsewhere and copies it over.
      expect(tasks.filter((t) => JSON.stringify(t).includes(ENV_PATH)).length).toBe(2); // the template and the doctor check
    });

    it('a file the doctor rejects never replaces the live one', () => {
      writeFileSync(live, '# the file in use\n');
      const result = writeEnvFile('env-rejected', { ...secrets, lc_session_secret: 'changeme' });
      expect(result.status, result.stdout).not.toBe(0);
      expect(result.stdout).toContain('failed to validate');
      expect(result.stdout).toContain('LC_SESSION_SECRET');
      expect(readFileSync(live, 'utf8')).toBe('# the file in use\n');
    }, 120_000);

    it('a value with a line break is refused, naming the variable', () => {
      writeFileSync(live, '# the file in use\n');
      const result = writeEnvFile('env-newline', { ...secrets, lc_database_url: `${secrets.lc_database_url}\n` });
      expect(result.status, result.stdout).not.toBe(0);
      expect(result.stdout).toMatch(/lc_database_url contains a line break/);
      expect(readFileSync(live, 'utf8')).toBe('# the file in use\n');
    }, 120_000);

    it('a file the doctor accepts goes live; sh and systemd read every value back verbatim', () => {
      writeFileSync(live, '# the file in use\n');
      rmSync(seen, { force: true });
      const result = writeEnvFile('env-accepted', secrets);
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(existsSync(seen)).toBe(true);

      const text = readFileSync(live, 'utf8');
      const bySystemd = systemdEnvironmentFile(text);
      const bySh = JSON.parse(readFileSync(seen, 'utf8')) as Record<string, string>;
      expect(Object.keys(bySystemd).sort()).toEqual(
        ['APP_URL', 'INSTANCES', 'DATABASE_URL', 'REDIS_URL', 'LC_STATE_KEYS', 'LC_SESSION_SECRET', 'BEHIND_PROXY', 'TRUST_PROXY', 'METRICS_TOKEN', 'HEALTH_TOKEN', 'LOG_FORMAT', 'LOG_LEVEL'].sort(),
      );
      for (const [k, v] of Object.entries(bySystemd)) expect(bySh[k], k).toBe(v);
      expect(bySystemd).toMatchObject({
        APP_URL: 'https://app.example.com',
        INSTANCES: '2',
        DATABASE_URL: secrets.lc_database_url,
        LC_STATE_KEYS: secrets.lc_state_keys,
        LC_SESSION_SECRET: secrets.lc_session_secret,
        HEALTH_TOKEN: awkward,
      });
      // The unit adds NODE_ENV, HOST and PORT.
      const report = runDoctor({ ...bySystemd, HOST: '127.0.0.1', PORT: '3001' }, { production: true });
      expect(report.ok, report.lines.filter((l) => l.startsWith('FAIL')).join('\n')).toBe(true);
    }, 120_000);
  });
});
