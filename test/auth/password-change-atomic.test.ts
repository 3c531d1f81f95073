/**
 * A password change writes the new hash and revokes every sign-in in one transaction
 * (src/auth/repository.ts `changePassword`). Before, it wrote the hash (`rehashPassword`) and then
 * revoked (`revokeUsers`) in a second transaction: a crash or an outage between the two left the new
 * password in place with every old sign-in live — the very sign-ins a change after a leak must end.
 * Here the database refuses the revocation's UPDATE of `refresh_tokens` (a Kysely plugin throwing
 * for that one statement while armed, as a lost connection would fail it): the change answers 500,
 * and must leave the old password valid and nothing revoked.
 */
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, PASSWORD, type AuthApp, type Engine } from './harness.js';

const NEW_PASSWORD = 'a brand new passphrase 2026';

/** While `armed`, every UPDATE of `refresh_tokens` fails, as the database would on a lost connection. */
function failingRevocation() {
  const state = { armed: false, refused: 0 };
  const plugin: KyselyPlugin = {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const { node } = args;
      if (state.armed && node.kind === 'UpdateQueryNode' && JSON.stringify(node.table).includes('"refresh_tokens"')) {
        state.refused += 1;
        throw new Error('connection lost (test)');
      }
      return node;
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return args.result;
    },
  };
  return { state, plugin };
}

function engineWith(engine: Engine, plugin: KyselyPlugin): Engine {
  return {
    name: engine.name,
    async open() {
      const opened = await engine.open();
      return { db: opened.db.withPlugin(plugin), drop: opened.drop };
    },
  };
}

eachEngine('a password change is one transaction', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('the revocation fails: 500, the old password still signs in, the new one does not, no sign-in revoked', async () => {
    const failing = failingRevocation();
    const a = (t = await authApp(engineWith(engine, failing.plugin)));
    expect((await a.register('ada@example.com')).statusCode).toBe(201);
    const here = await a.login('ada@example.com');
    const elsewhere = await a.login('ada@example.com');

    failing.state.armed = true;
    const res = await a.post('/change-password', { current_password: PASSWORD, new_password: NEW_PASSWORD }, { authorization: `Bearer ${here.access}` });
    failing.state.armed = false;
    expect({ status: res.statusCode, code: res.json().code, refused: failing.state.refused }).toEqual({ status: 500, code: 'INTERNAL_ERROR', refused: 1 });

    expect((await a.post('/login', { email: 'ada@example.com', password: NEW_PASSWORD })).json().code).toBe('INVALID_CREDENTIALS');
    expect((await a.me(here.access)).statusCode).toBe(200);
    expect((await a.me(elsewhere.access)).statusCode).toBe(200);
    expect((await a.refresh(elsewhere.refresh)).statusCode).toBe(200);
    expect((await a.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(200);
    expect(a.events.filter((e) => e.event === 'authn_password_change')).toEqual([]);
    expect(a.mail.messages).toEqual([]);

    // And once the database answers, the same change goes through.
    expect((await a.post('/change-password', { current_password: PASSWORD, new_password: NEW_PASSWORD }, { authorization: `Bearer ${here.access}` })).statusCode).toBe(204);
    expect((await a.me(elsewhere.access)).statusCode).toBe(401);
    expect((await a.post('/login', { email: 'ada@example.com', password: NEW_PASSWORD })).statusCode).toBe(200);
  });
});
