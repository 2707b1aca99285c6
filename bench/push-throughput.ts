/**
 * `TEST_DATABASE_URL=… npx tsx bench/push-throughput.ts [--subscriptions 200] [--messages 10]`:
 * how many pushes per second the outbox sends to a local HTTPS push service. One Tablo process
 * (trusting the receiver's self-signed certificate), a member with `subscriptions` browsers, and
 * `messages` posted at once by another: each message fans out to every browser. Prints the time
 * from the first post to the last push received, and pushes per second.
 */
import { parseArgs } from 'node:util';
import { TabloProcess } from '../e2e/support/server.ts';
import { registerPerson } from '../test/support/client.ts';
import { createTestDatabase } from '../test/support/database.ts';
import { postOk } from '../test/support/discussion.ts';
import { tabloWith } from '../test/support/members.ts';
import { PushBrowser, PushReceiver, selfSignedCertificate } from '../test/support/push-receiver.ts';

const { values: args } = parseArgs({
  options: { subscriptions: { type: 'string', default: '200' }, messages: { type: 'string', default: '10' } },
  strict: true,
});
const subscriptions = Number(args.subscriptions);
const messages = Number(args.messages);

const tls = selfSignedCertificate();
const receiver = await PushReceiver.start(tls);
const database = await createTestDatabase();
const tablo = await TabloProcess.start(database.url, { NODE_EXTRA_CA_CERTS: tls.certFile, ALLOW_PRIVATE_URLS: 'true', POST_RATE_LIMIT: '0' });
try {
  const ada = await registerPerson(tablo.url, 'Ada');
  const bob = await registerPerson(tablo.url, 'Bob');
  const tabloId = await tabloWith(ada, 'Bench room', bob);
  await bob.client.get('/tablos');
  for (let i = 0; i < subscriptions; i++) {
    const browser = new PushBrowser(`${receiver.origin}/push/${i}`);
    const response = await bob.client.request('/push/subscriptions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': bob.client.csrfToken ?? '' },
      body: JSON.stringify(browser.subscription()),
    });
    if (response.status !== 201) throw new Error(`subscribing answered ${response.status}`);
  }
  const started = performance.now();
  await Promise.all(Array.from({ length: messages }, (_, i) => postOk(ada, tabloId, `bench message ${i}`)));
  const total = subscriptions * messages;
  while (receiver.deliveries.length < total) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - started) / 1000;
  console.log(`${total} pushes (${messages} messages × ${subscriptions} browsers) in ${seconds.toFixed(2)} s: ${Math.round(total / seconds)} pushes/s`);
} finally {
  await tablo.stop();
  await receiver.close();
  await database.drop();
}
