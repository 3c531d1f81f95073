import { z } from 'zod';
import { defineComponent, html, LiveError } from '../../../src/index.js';
import type { Accounts } from '../../../src/auth/index.js';
import { NAME_MAX_LENGTH } from '../../../src/auth/input.js';
import { maxlengthFor } from './text-length.js';

/** What the profile component needs of the accounts: the display-name update. */
export type ProfileAccounts = Pick<Accounts, 'setName'>;

/** The state of a profile shown to `user`: what `/profile` stores before mounting it when the session has none of that user. */
export function profileStateFor(user: { id: string; name: string | null } | null) {
  return { name: user?.name ?? '', saves: 0, owner: user?.id ?? null };
}

/**
 * `profile:main`: shows and edits the signed-in user's display name. `rename` is authorized
 * (signed out: 401 `UNAUTHENTICATED`), and only for the user the instance was mounted for: `owner`
 * is a sensitive state field, sealed with the rest of the state and never sent to the browser.
 */
export function createProfile(accounts: ProfileAccounts) {
  return defineComponent({
    name: 'profile',
    initialState: profileStateFor(null),
    publicState: ['name', 'saves'],
    actions: {
      rename: {
        params: z.object({ name: z.string().max(1000, `At most ${NAME_MAX_LENGTH} characters.`) }),
        rateLimit: 20,
        authorize: (ctx, state) => ctx.user !== null && state.owner === ctx.user.id,
        run: async (state, { name }, ctx) => {
          if (ctx.user === null) throw new LiveError('UNAUTHENTICATED');
          const result = await accounts.setName(ctx.user.id, name);
          if (!result.ok) throw new LiveError('VALIDATION_FAILED', { fields: { errors: { name: [result.message] } } });
          return { ...state, name: result.name ?? '', saves: state.saves + 1 };
        },
      },
    },
    render: (state, ctx) =>
      ctx.user === null
        ? html`<p data-signed-out>You are signed out. <a href="/login">Sign in</a> to see and edit your profile.</p>`
        : html`
    <p>Signed in as <strong data-email>${ctx.user.email}</strong></p>
    <p>Display name: <output data-name>${state.name === '' ? '(none yet)' : state.name}</output></p>
    <form method="post" data-lc-action="rename" class="stack">
      <label class="field">New display name <input name="name" required maxlength="${maxlengthFor(NAME_MAX_LENGTH)}" autocomplete="nickname" dir="auto" value="${state.name}"></label>
      <span class="field-error" data-lc-error="name" hidden></span>
      <button type="submit" class="btn primary">Save</button>
    </form>
    <p class="muted">Saved ${state.saves} time${state.saves === 1 ? '' : 's'} on this page.</p>`,
  });
}
