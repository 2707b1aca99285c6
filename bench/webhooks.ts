/**
 * `TEST_DATABASE_URL=… npx tsx bench/webhooks.ts [--messages 500] [--bots 1]`: how many webhook
 * deliveries per second the outbox makes to a local receiver. One Tablo process, `bots` bots with
 * a webhook on 127.0.0.1, and `messages` posted (20 at a time) that mention them all with `@all`:
 * each message is one signed delivery per bot. Prints the time from the first post to the last
 * delivery received, and deliveries per second.
 */
import { parseArgs } from 'node:util';
import { TabloProcess } from '../e2e/support/server.ts';
import { newBot } from '../test/support/api.ts';
import { createTablo, registerPerson } from '../test/support/client.ts';
import { createTestDatabase } from '../test/support/database.ts';
import { postMany } from '../test/support/discussion.ts';
import { WebhookReceiver } from '../test/support/webhook-receiver.ts';

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '500' }, bots: { type: 'string', default: '1' } },
  strict: true,
});
const messages = Number(args.messages);
const bots = Number(args.bots);

const receiver = await WebhookReceiver.start();
const database = await createTestDatabase();
const tablo = await TabloProcess.start(database.url, { ALLOW_PRIVATE_URLS: 'true', POST_RATE_LIMIT: '0' });
try {
  const ada = await registerPerson(tablo.url, 'Ada');
  const tabloId = await createTablo(ada, 'Bench room');
  for (let i = 0; i < bots; i++) {
    const made = await newBot(ada, tabloId, { name: `Hook ${i}`, handle: `hook${i}`, webhook_url: `${receiver.url}/hook/${i}` });
    if (made.status !== 200) throw new Error(`making a bot answered ${made.status}`);
  }
  await ada.client.get(`/tablos/${tabloId}/discussion`);
  const started = performance.now();
  await postMany(ada, tabloId, messages, (i) => `@all bench message ${i}`, 20);
  const posted = (performance.now() - started) / 1000;
  const total = messages * bots;
  while (receiver.received.length < total) await new Promise((r) => setTimeout(r, 10));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${total} webhook deliveries (${messages} messages × ${bots} bots; posting took ${posted.toFixed(2)} s) in ${seconds.toFixed(2)} s: ${Math.round(total / seconds)} deliveries/s`,
  );
} finally {
  await tablo.stop();
  await receiver.close();
  await database.drop();
}
