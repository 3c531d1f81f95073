/**
 * deploy/ansible/playbook.yml with ansible-playbook: `--syntax-check` of the playbook and of the task
 * file it includes per instance, then its two templating steps run for real on localhost (into a
 * temporary folder, not /etc): the nginx site and the environment file. The env file must pass the
 * production doctor. The playbook is not run against a host here (that needs a Debian machine with
 * systemd, nginx and the registry).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runDoctor } from '../../src/cli/doctor.js';
import { at, DEPLOY, haveTool, list, record, run, yamlDocuments } from './tools.js';

const HAVE_ANSIBLE = haveTool('ansible-playbook', '--version', 'apt-get install ansible-core', 'the Ansible playbook checks');

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

  it('--syntax-check accepts the playbook', () => {
    const result = run('ansible-playbook', ['-i', inventory, '--syntax-check', playbook], { env });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/ERROR|WARNING/);
  });

  it('--syntax-check accepts the per-instance task file (imported statically so it is parsed)', () => {
    const wrapper = join(dir, 'restart-wrapper.yml');
    writeFileSync(
      wrapper,
      stringify([{ hosts: 'livecomponents', gather_facts: false, vars: { lc_port: 3001 }, tasks: [{ 'ansible.builtin.import_tasks': join(DEPLOY, 'ansible/restart-instance.yml') }] }]),
    );
    const result = run('ansible-playbook', ['-i', inventory, '--syntax-check', wrapper], { env });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/ERROR|WARNING/);
  });

  it('renders the nginx site and the env file as the playbook does; the env file passes the production doctor', () => {
    const [, deploy] = yamlDocuments('ansible/playbook.yml')[0] as unknown[];
    const tasks = list(deploy, 'tasks');
    const site = tasks.find((t) => (t as Record<string, unknown>)['ansible.builtin.copy'] !== undefined && at(t, 'ansible.builtin.copy', 'dest') === '/etc/nginx/conf.d/livecomponents.conf');
    const envTask = tasks.find((t) => (t as Record<string, unknown>)['ansible.builtin.template'] !== undefined && at(t, 'ansible.builtin.template', 'dest') === '/etc/livecomponents/livecomponents.env');
    if (!site || !envTask) throw new Error('the playbook no longer has the nginx site or env file task this test runs');
    const secrets = {
      lc_server_name: 'app.example.com',
      lc_tls_cert: '/etc/ssl/app.pem',
      lc_tls_key: '/etc/ssl/app.key',
      lc_state_keys: randomBytes(32).toString('base64'),
      lc_session_secret: randomBytes(32).toString('base64'),
      lc_database_url: 'postgres://livecomponents:secret@db.internal:5432/livecomponents',
      lc_redis_url: 'redis://redis.internal:6379',
      lc_metrics_token: randomBytes(32).toString('hex'),
      lc_health_token: randomBytes(32).toString('hex'),
    };
    const local = [
      {
        hosts: 'localhost',
        connection: 'local',
        gather_facts: false,
        vars: { ...record(deploy, 'vars'), ...secrets, lc_test_playbook_dir: join(DEPLOY, 'ansible') },
        tasks: [
          {
            name: 'nginx site',
            'ansible.builtin.copy': {
              content: String(at(site, 'ansible.builtin.copy', 'content')).replaceAll('playbook_dir', 'lc_test_playbook_dir'),
              dest: join(dir, 'livecomponents.conf'),
              mode: '0644',
            },
          },
          {
            name: 'env file',
            'ansible.builtin.template': {
              src: join(DEPLOY, 'ansible', String(at(envTask, 'ansible.builtin.template', 'src'))),
              dest: join(dir, 'livecomponents.env'),
              mode: '0600',
            },
          },
        ],
      },
    ];
    const file = join(dir, 'render.yml');
    writeFileSync(file, stringify(local));
    const result = run('ansible-playbook', ['-i', 'localhost,', file], { env, timeoutMs: 120_000 });
    expect(result.status, result.stdout + result.stderr).toBe(0);

    const nginx = readFileSync(join(dir, 'livecomponents.conf'), 'utf8');
    expect(nginx).not.toContain('${LC_');
    expect(nginx).toMatch(/^\s*server 127\.0\.0\.1:3001 /m);
    expect(nginx).toMatch(/^\s*server 127\.0\.0\.1:3002 /m);
    expect(nginx).toContain('ssl_certificate     /etc/ssl/app.pem;');
    expect(nginx).toContain('server_name app.example.com;');
    expect(nginx).toContain('proxy_set_header X-Forwarded-For   $remote_addr;');

    // systemd reads KEY='value'; the unit adds NODE_ENV, HOST and PORT.
    const lines = readFileSync(join(dir, 'livecomponents.env'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const vars: Record<string, string> = { HOST: '127.0.0.1', PORT: '3001' };
    for (const line of lines) {
      const m = /^([A-Z0-9_]+)='([^']*)'$/.exec(line);
      if (!m) throw new Error(`not KEY='value': ${line}`);
      vars[m[1] as string] = m[2] as string;
    }
    expect(vars.LC_STATE_KEYS).toBe(secrets.lc_state_keys);
    const report = runDoctor(vars, { production: true });
    expect(report.ok, report.lines.filter((l) => l.startsWith('FAIL')).join('\n')).toBe(true);
  }, 120_000);
});
