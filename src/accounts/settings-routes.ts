import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { notFound, wantsFragment } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { requireSignIn, signedInUser } from './current-user.ts';
import { newPassword, personName } from './fields.ts';
import { handleInput } from './handles.ts';
import { sessionsOf } from './person-sessions.ts';
import { renewSession } from './sessions.ts';
import { createToken, revokeToken, tokenName, tokensOf } from './tokens.ts';
import {
  changeName,
  changeOwnHandle,
  changePassword,
  type SettingsEffects,
  signOutOtherSessions,
  signOutSession,
} from './settings.ts';
import { type CurrentUser, findUserById } from './users.ts';
import type { AccessCache } from '../web/access-cache.ts';

const passwordChange = z.object({
  current_password: z.string().max(1024).default(''),
  new_password: newPassword,
});

/** What a redirect after a change says on the page it lands on (`?saved=…`). */
const NOTES: Record<string, string> = {
  name: 'Your name is saved.',
  handle: 'Your handle is saved.',
  password: 'Your password is changed. Your other sessions are signed out.',
};

type Errors = Record<string, string | undefined>;

export function settingsRoutes(db: Database, effects: SettingsEffects, people: Pick<AccessCache, 'forgetPerson'>): Router {
  const router = Router();
  router.use('/settings', requireSignIn());

  router.get('/settings', (req, res) => {
    const note = typeof req.query.saved === 'string' ? NOTES[req.query.saved] : undefined;
    res.send(settingsPage(req, res, { note }));
  });

  router.post('/settings/name', async (req, res) => {
    const parsed = personName.safeParse(req.body?.name ?? '');
    if (!parsed.success) return profileInvalid(req, res, { name: String(req.body?.name ?? '') }, { name: firstIssue(parsed.error) });
    await changeName(db, effects, signedInUser(res).id, parsed.data);
    people.forgetPerson(signedInUser(res).id);
    await profileSaved(req, res, 'name');
  });

  router.post('/settings/handle', async (req, res) => {
    const typed = String(req.body?.handle ?? '');
    const parsed = handleInput.safeParse(typed);
    if (!parsed.success) return profileInvalid(req, res, { handle: typed }, { handle: firstIssue(parsed.error) });
    if (!(await changeOwnHandle(db, effects, signedInUser(res).id, parsed.data))) {
      return profileInvalid(req, res, { handle: typed }, { handle: `@${parsed.data} is taken. Try another.` });
    }
    people.forgetPerson(signedInUser(res).id);
    await profileSaved(req, res, 'handle');
  });

  router.post('/settings/password', async (req, res) => {
    const parsed = passwordChange.safeParse(req.body ?? {});
    if (!parsed.success) {
      const errors = Object.fromEntries(parsed.error.issues.map((issue) => [String(issue.path[0]), issue.message]));
      res.status(422).send(settingsPage(req, res, { errors }));
      return;
    }
    const changed = await changePassword(db, effects, {
      userId: signedInUser(res).id,
      sessionId: req.sessionID,
      currentPassword: parsed.data.current_password,
      newPassword: parsed.data.new_password,
    });
    if (!changed.ok) {
      res.status(422).send(settingsPage(req, res, { errors: { current_password: changed.error } }));
      return;
    }
    // This session goes on under a new id and CSRF token; its open streams end and come back
    // with the new cookie.
    const previousId = await renewSession(req);
    effects.sessionEnded(previousId, 'session-renewed');
    const location = '/settings?saved=password';
    // htmx would swap a redirect's page into its target; the new token needs a whole new page.
    if (wantsFragment(req)) res.set('HX-Redirect', location).status(204).end();
    else res.redirect(303, location);
  });

  router.get('/settings/sessions', async (req, res) => {
    const sessions = await sessionsOf(db, signedInUser(res).id, req.sessionID);
    res.send(renderPage(req, res, 'sessions', { pageTitle: 'Your sessions', sessions, note: endedNote(req.query.ended) }));
  });

  router.post('/settings/sessions/others/revoke', async (req, res) => {
    const ended = await signOutOtherSessions(db, effects, signedInUser(res).id, req.sessionID);
    await sessionsAnswer(req, res, ended);
  });

  router.post('/settings/sessions/:key/revoke', async (req, res) => {
    const key = String(req.params.key);
    const ended = /^[0-9a-f]{16}$/.test(key) && (await signOutSession(db, effects, signedInUser(res).id, { key, currentSessionId: req.sessionID }));
    if (!ended) throw notFound();
    await sessionsAnswer(req, res, 1);
  });

  router.get('/settings/tokens', async (req, res) => {
    res.send(await tokensPage(req, res, { note: req.query.revoked === '1' ? 'The token is revoked.' : undefined }));
  });

  // The answer shows the new token this once (it is stored only as a hash): no redirect.
  router.post('/settings/tokens', async (req, res) => {
    const parsed = tokenName.safeParse(typeof req.body?.name === 'string' ? req.body.name : '');
    if (!parsed.success) {
      res.status(422).send(await tokensPage(req, res, { error: firstIssue(parsed.error), values: { name: String(req.body?.name ?? '') } }));
      return;
    }
    const token = await createToken(db, signedInUser(res).id, parsed.data);
    res.send(await tokensPage(req, res, { newToken: { name: parsed.data, value: token.value } }));
  });

  router.post('/settings/tokens/:tokenId/revoke', async (req, res) => {
    const tokenId = parseId(req.params.tokenId);
    if (tokenId === undefined || !(await revokeToken(db, effects, signedInUser(res).id, tokenId))) throw notFound();
    res.redirect(303, '/settings/tokens?revoked=1');
  });

  async function tokensPage(req: Request, res: Response, form: { note?: string; error?: string; values?: Record<string, string>; newToken?: { name: string; value: string } }) {
    const tokens = await tokensOf(db, signedInUser(res).id);
    return renderPage(req, res, 'tokens', { pageTitle: 'API tokens', tokens, ...form });
  }

  function settingsPage(req: Request, res: Response, form: { note?: string; errors?: Errors; values?: Record<string, string> }): string {
    return renderPage(req, res, 'settings', { pageTitle: 'Settings', note: form.note, errors: form.errors ?? {}, values: form.values ?? {} });
  }

  function profileInvalid(req: Request, res: Response, values: Record<string, string>, errors: Errors): void {
    res.status(422);
    if (wantsFragment(req)) res.send(profileFragment(req, signedInUser(res), { values, errors }));
    else res.send(settingsPage(req, res, { values, errors }));
  }

  async function profileSaved(req: Request, res: Response, what: 'name' | 'handle'): Promise<void> {
    if (!wantsFragment(req)) return res.redirect(303, `/settings?saved=${what}`);
    const person = (await findUserById(db, signedInUser(res).id)) ?? signedInUser(res);
    res.send(profileFragment(req, person, { note: NOTES[what], oob: what === 'name' }));
  }

  function profileFragment(req: Request, person: CurrentUser, form: { values?: Record<string, string>; errors?: Errors; note?: string; oob?: boolean }) {
    return renderPartial('settings-profile', { person, csrfToken: req.csrfToken?.(), values: {}, errors: {}, ...form });
  }

  async function sessionsAnswer(req: Request, res: Response, ended: number): Promise<void> {
    if (!wantsFragment(req)) return res.redirect(303, `/settings/sessions?ended=${ended}`);
    const sessions = await sessionsOf(db, signedInUser(res).id, req.sessionID);
    res.send(renderPartial('sessions', { sessions, csrfToken: req.csrfToken?.(), note: endedNote(String(ended)) }));
  }

  return router;
}

function firstIssue(error: z.ZodError): string {
  return error.issues[0]?.message ?? 'Check this field.';
}

function endedNote(value: unknown): string | undefined {
  const ended = typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : undefined;
  if (ended === undefined) return undefined;
  if (ended === 0) return 'No other session was signed in.';
  return ended === 1 ? 'One session is signed out.' : `${ended} sessions are signed out.`;
}
