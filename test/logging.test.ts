import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sessionKey } from '../src/live/live.ts';
import { createLogger } from '../src/web/logging.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { createTablo, registerPerson } from './support/client.ts';
import { postOk } from './support/discussion.ts';
import { openEvents } from './support/members.ts';
import { openStream } from './support/sse.ts';

/** Every line the app logs, as written (JSON), through a pino destination stream. */
const lines: string[] = [];
const captured = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});

let app: TestApp;
before(async () => {
  app = await startTestApp({ logger: createLogger('info', { destination: captured }) });
});
after(() => app.close());

describe('logs', () => {
  it('name no session id: stream openings and closings, requests, sign-ups and sign-ins', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const tabloId = await createTablo(ada);
    const discussion = await openStream(ada.client, tabloId);
    const events = await openEvents(ada.client);
    assert.equal(discussion.status, 200);
    assert.equal(events.status, 200);
    await postOk(ada, tabloId, 'hello');
    await discussion.waitFor((s) => s.messages.length === 1);
    discussion.close();
    events.close();
    await discussion.ended;
    await events.ended;
    await waitFor(() => lines.filter((l) => l.includes('"stream closed"')).length >= 2);

    const sessions = await app.db.selectFrom('sessions').select('sid').execute();
    assert.ok(sessions.length >= 1);
    const opened = lines.filter((l) => l.includes('"stream opened"'));
    assert.equal(opened.length, 2, 'both streams logged their opening');
    assert.ok(lines.some((l) => l.includes('"POST"') || l.includes('/register')), 'requests are logged too');
    for (const { sid } of sessions) {
      for (const line of lines) assert.ok(!line.includes(sid), `a log line names session ${sid}: ${line}`);
    }
    // What logs say instead: a short hash, the same for both of the session's streams.
    const tags = opened.map((l) => JSON.parse(l).session);
    assert.equal(tags[0], tags[1]);
    assert.ok(sessions.some(({ sid }) => sessionKey(sid) === tags[0]));
    assert.ok(opened.every((l) => !('sessionId' in JSON.parse(l))));
  });

  it('a session key is 16 hex characters and tells sessions apart', () => {
    assert.match(sessionKey('abc'), /^[0-9a-f]{16}$/);
    assert.notEqual(sessionKey('abc'), sessionKey('abd'));
    assert.ok(!sessionKey('secret-session-id').includes('secret'));
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
