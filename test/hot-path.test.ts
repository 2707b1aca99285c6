/**
 * The posting route remembers its session, person and membership for a few seconds (AccessCache):
 * a kept-alive connection posting message after message costs one query a post. What ends access
 * must still end it — at once where it is announced (sign-out, removal, a revoked token, on the
 * other instance too), within ACCESS_CHECK_MS where it is not (a session row deleted behind the
 * app's back). Two instances on one database, the Postgres bus.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { api, newToken } from './support/api.ts';
import { type TestApp, startTwoInstances } from './support/app.ts';
import { createTablo, type Person, registerPerson } from './support/client.ts';
import { eventually, postMessage, postOk } from './support/discussion.ts';
import { htmx, onInstance, removeMember, secondSession, tabloWith } from './support/members.ts';

/** Long enough that nothing in a test expires by itself unless it waits for it. */
const CACHE_MS = 3_000;
// Without the posting limit, which is a statement of its own (see src/web/limits.ts).
const env = { REALTIME_BUS: 'postgres', ACCESS_CHECK_MS: String(CACHE_MS), POST_RATE_LIMIT: '0' };

/** An ended session's post: 403, its CSRF token being bound to it (a page would then ask to sign in), or 401. */
const refused = (status: number) => status === 401 || status === 403;

/** Counts the queries `app` sends while `work` runs (each query takes a connection from its pool). */
async function queriesDuring(app: TestApp, work: () => Promise<void>): Promise<number> {
  let queries = 0;
  const count = () => queries++;
  app.pool.on('acquire', count);
  try {
    await work();
  } finally {
    app.pool.off('acquire', count);
  }
  return queries;
}

describe('the posting hot path', { timeout: 120_000 }, () => {
  let a: TestApp;
  let b: TestApp;
  let ada: Person;
  let bob: Person;
  before(async () => {
    [a, b] = await startTwoInstances(env);
    [ada, bob] = await Promise.all([registerPerson(a.url, 'Ada'), registerPerson(a.url, 'Bob')]);
  });
  after(async () => {
    await b?.close();
    await a?.close();
  });

  it('a warm connection stores a post with one query', async () => {
    const tablo = await createTablo(ada, 'One query');
    await postOk(ada, tablo, 'warm up');
    const posts = 20;
    const queries = await queriesDuring(a, async () => {
      for (let i = 1; i <= posts; i++) await postOk(ada, tablo, `post ${i}`);
    });
    // Background work (the outbox, presence) may add a query or two while it runs.
    assert.ok(queries <= posts + 3, `${queries} queries for ${posts} posts: session, person and membership are remembered`);
    console.log(`${posts} posts on a warm connection: ${queries} queries`);
  });

  it('signing out on one instance refuses the next post on the other at once', async () => {
    const tablo = await createTablo(ada, 'Signed out');
    const elsewhere = await secondSession(b.url, ada);
    await postOk(elsewhere, tablo, 'remembered on B');
    // The same session signs out on A.
    const here = await onInstance(a, elsewhere);
    assert.equal((await here.client.post('/logout')).status, 303);
    await eventually(async () => refused((await postMessage(elsewhere, tablo, 'after sign-out')).status), 2_000, 'B to refuse the post');
  });

  it('a member removed on one instance gets 404 on the other at once', async () => {
    const tablo = await tabloWith(ada, 'Removed', bob);
    const bobOnB = await onInstance(b, bob);
    await postOk(bobOnB, tablo, 'before removal');
    assert.equal((await removeMember(ada, tablo, bob.id, htmx(ada))).status < 400, true);
    await eventually(async () => (await postMessage(bobOnB, tablo, 'after removal')).status === 404, 2_000, 'B to answer 404');
  });

  it('a session deleted in the store (announced nowhere) is refused within ACCESS_CHECK_MS', async () => {
    const tablo = await createTablo(bob, 'Deleted row');
    const other = await secondSession(a.url, bob);
    await postOk(other, tablo, 'remembered');
    const sid = decodeURIComponent(other.client.cookie('tablo.sid')!).slice(2).split('.')[0]!;
    await sql`DELETE FROM sessions WHERE sid = ${sid}`.execute(a.db);
    const started = performance.now();
    await eventually(async () => refused((await postMessage(other, tablo, 'after delete')).status), CACHE_MS + 3_000, 'the post to be refused');
    const took = performance.now() - started;
    assert.ok(took <= CACHE_MS + 1_000, `refused after ${Math.round(took)} ms`);
    console.log(`session row deleted → posting refused after ${Math.round(took)} ms (ACCESS_CHECK_MS ${CACHE_MS})`);
  });

  it('a token revoked on one instance is refused by the API on the other at once', async () => {
    const tablo = await createTablo(ada, 'Revoked token');
    const token = await newToken(ada);
    const post = (body: string) => api(b.url, token.value, 'POST', `/tablos/${tablo}/messages`, { body });
    const first = await post('remembered');
    assert.equal(first.status, 201, JSON.stringify(first.body));
    await ada.client.get('/settings/tokens');
    const revoked = await ada.client.post(`/settings/tokens/${token.id}/revoke`);
    assert.ok(revoked.status < 400, `revoking answered ${revoked.status}`);
    await eventually(async () => (await post('after revoke')).status === 401, 2_000, 'B to refuse the token');
  });
});
