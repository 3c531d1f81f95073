/**
 * Files of secrets stay out of git: QUICKSTART §2 writes every secret to ./production.env at the
 * repository root, deploy/README has them in deploy/.env. The examples that are committed
 * (deploy/env.example, *.env.example, the Ansible *.env.j2 template) stay in.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './tools.js';

const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });

describe.skipIf(!existsSync(join(ROOT, '.git')))('.gitignore', () => {
  it('ignores the files QUICKSTART and deploy/ write secrets to, wherever they are', () => {
    for (const secret of ['production.env', '.env', '.env.local', 'deploy/.env', 'deploy/production.env']) {
      expect(git('check-ignore', '--no-index', '-q', secret).status, secret).toBe(0);
    }
  });

  it('ignores none of the committed files (the env examples among them)', () => {
    const result = git('ls-files', '--cached', '--ignored', '--exclude-standard');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    for (const example of ['deploy/env.example', 'deploy/systemd/livecomponents.env.example', 'deploy/ansible/templates/livecomponents.env.j2']) {
      expect(git('check-ignore', '--no-index', '-q', example).status, example).toBe(1);
    }
  });
});
