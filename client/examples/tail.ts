// Follow a tablo from the terminal: TABLO_URL=http://localhost:3000 TABLO_TOKEN=tablo_… npx tsx client/examples/tail.ts 12
import { TabloClient } from '@tablo/client';

const [tabloId = ''] = process.argv.slice(2);
const client = new TabloClient({ baseUrl: process.env.TABLO_URL ?? 'http://localhost:3000', token: process.env.TABLO_TOKEN ?? '' });
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());

// The last 20 messages, then every change from there on, live.
const recent = await client.messages(Number(tabloId), { limit: 20 });
for (const m of recent) console.log(`#${m.seq} ${m.author.name}: ${m.body}`);
const { last_seq: after } = (await client.tablos()).find((t) => t.id === Number(tabloId)) ?? { last_seq: 0 };

for await (const event of client.events(Number(tabloId), { after, signal: controller.signal })) {
  if (event.type === 'resync') {
    console.log(`… more than 500 changes skipped; now at ${event.seq}`);
    continue;
  }
  const { message } = event;
  const what = event.type === 'message.created' ? '' : event.type === 'message.deleted' ? ' (deleted)' : ' (changed)';
  console.log(`#${message.seq} ${message.author.name}${what}: ${message.body ?? ''}`);
}
