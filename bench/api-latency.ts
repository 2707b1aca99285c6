/**
 * `npx tsx bench/api-latency.ts [--runs 3] [--posts 40] [--gap-ms 40]`: post→delivered latency of
 * the API's JSON event stream next to the discussion's HTML stream, on one app instance
 * (REALTIME_BUS=memory, a fresh database). Both streams are open at once on the same tablo; each
 * message is posted through the API (a bearer token) and timed until it arrives on each stream.
 * Prints each run's medians and the median of the runs' medians. Light on purpose: two streams.
 */
import { parseArgs } from 'node:util';
import { Arrivals } from './lib/arrivals.ts';
import { createTablo, signUp } from './lib/http.ts';
import { cleanUp } from './lib/processes.ts';
import { readFrames } from './lib/sse-text.ts';
import { percentile } from './lib/stats.ts';
import { startApp } from './lib/targets.ts';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, posts: { type: 'string', default: '40' }, 'gap-ms': { type: 'string', default: '40' } },
  strict: true,
});
const runs = Number(args.runs);
const posts = Number(args.posts);
const gapMs = Number(args['gap-ms']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

/** Reads a stream's frames and notes each message id it carries (HTML: the article's id; JSON: message.id). */
function readStream(url: URL, headers: Record<string, string>, arrivals: Arrivals, signal: AbortSignal, idOf: (frame: string) => number | undefined) {
  return readFrames(url, headers, signal, (frame) => {
    const id = idOf(frame);
    if (id !== undefined) arrivals.arrived(String(id));
  });
}

const htmlId = (frame: string) => Number(/id="message-(\d+)"/.exec(frame)?.[1]) || undefined;
const jsonId = (frame: string) => {
  const data = /^data: (.*)$/m.exec(frame)?.[1];
  return data ? (JSON.parse(data) as { message: { id: number } }).message.id : undefined;
};

async function main(): Promise<void> {
  const target = await startApp('app', { readers: 0 });
  try {
    const endpoint = (await target.channel('warm-up')).endpoints[0]!;
    const baseUrl = `http://${endpoint.host}:${endpoint.port}`;
    const { browser: person } = await signUp(baseUrl, 'Bench Bot Owner');
    const tabloId = await createTablo(person, 'API latency');
    await person.get('/settings/tokens');
    const tokenPage = await person.post('/settings/tokens', { name: 'bench' });
    const token = /id="new-token-value"[^>]*>([^<]+)</.exec(tokenPage.html)?.[1]?.trim();
    if (!token) throw new Error('no token shown');
    const bearer = { Authorization: `Bearer ${token}` };

    const medians: { html: number[]; json: number[] } = { html: [], json: [] };
    for (let run = 1; run <= runs; run++) {
      const html = new Arrivals();
      const json = new Arrivals();
      const live = new AbortController();
      const newest = Number(/stream\?after=(\d+)/.exec((await person.get(`/tablos/${tabloId}/discussion`)).html)?.[1] ?? 0);
      await readStream(new URL(`/tablos/${tabloId}/discussion/stream?after=${newest}`, baseUrl), { Cookie: person.cookieHeader() }, html, live.signal, htmlId);
      await readStream(new URL(`/api/v1/tablos/${tabloId}/events?after=${newest}`, baseUrl), bearer, json, live.signal, jsonId);
      await sleep(200);
      const times: { html: number[]; json: number[] } = { html: [], json: [] };
      for (let n = 1; n <= posts; n++) {
        const sentAt = now();
        const response = await fetch(new URL(`/api/v1/tablos/${tabloId}/messages`, baseUrl), {
          method: 'POST',
          headers: { ...bearer, 'Content-Type': 'application/json' },
          body: JSON.stringify({ body: `run ${run} message ${n}` }),
        });
        if (response.status !== 201) throw new Error(`posting answered ${response.status}`);
        const { message } = (await response.json()) as { message: { id: number } };
        const [atHtml, atJson] = await Promise.all([html.when(String(message.id)), json.when(String(message.id))]);
        times.html.push(atHtml - sentAt);
        times.json.push(atJson - sentAt);
        await sleep(gapMs);
      }
      live.abort();
      const p50 = { html: percentile(times.html, 50), json: percentile(times.json, 50) };
      medians.html.push(p50.html);
      medians.json.push(p50.json);
      console.log(`run ${run}: HTML stream p50 ${p50.html.toFixed(1)} ms, JSON stream p50 ${p50.json.toFixed(1)} ms (${posts} posts)`);
    }
    console.log(
      `median of ${runs} runs: HTML stream ${percentile(medians.html, 50).toFixed(1)} ms, JSON stream ${percentile(medians.json, 50).toFixed(1)} ms (post→delivered, API posts, one instance)`,
    );
  } finally {
    await target.stop();
    await cleanUp();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
