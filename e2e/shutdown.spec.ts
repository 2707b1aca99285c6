import { test, expect } from '@playwright/test';
import { createTablo, registerPerson } from '../test/support/client.ts';
import { createTestDatabase } from '../test/support/database.ts';
import { holdRequest, statuses } from '../test/support/in-flight.ts';
import { openStream } from '../test/support/sse.ts';
import { TabloProcess } from './support/server.ts';

// SIGTERM to the real process: it tells streams to come back, finishes what is in flight, and
// exits 0 within the bound TabloProcess.stop() insists on.
test('SIGTERM: streams are told to retry in 500 ms, a request in flight is answered, the process exits 0', async () => {
  const database = await createTestDatabase();
  const server = await TabloProcess.start(database.url);
  try {
    const eve = await registerPerson(server.url, 'Eve');
    const tablo = await createTablo(eve, 'Deploy day');
    await eve.client.get(`/tablos/${tablo}/discussion`);
    const stream = await openStream(eve.client, tablo);
    expect(stream.status).toBe(200);
    await stream.waitFor((s) => s.retries.length > 0, 5_000, 'the opening retry');
    const post = await holdRequest(server.url, {
      method: 'POST',
      path: `/tablos/${tablo}/discussion/messages`,
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Cookie: eve.client.cookieHeader(),
        'HX-Request': 'true',
        'X-CSRF-Token': eve.client.csrfToken ?? '',
      },
      body: new URLSearchParams({ body: 'sent as the deploy began' }).toString(),
    });

    const stopped = server.stop();
    expect(await stream.ended).toBe('ended');
    const farewell = stream.events.at(-1);
    expect(farewell?.type).toBe('server-restarting');
    expect(stream.retries.at(-1)).toBe(500);

    const raw = await post.finish();
    expect(statuses(raw)).toEqual([201]);
    expect(raw).toMatch(/sent as the deploy began/);
    await stopped; // throws unless the exit was code 0 within the bound, with no unexpected error logged
  } finally {
    await server.stop().catch(() => {});
    await database.drop();
  }
});
