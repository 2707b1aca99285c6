/**
 * `npx tsx bench/edit-latency.ts [--runs 3] [--pairs 40] [--gap-ms 40]`: post→delivered latency of
 * an edit next to a new message's, on one app instance (REALTIME_BUS=memory, a fresh database).
 * Each run posts a message, then edits it, `pairs` times, one at a time with a gap; one reader's
 * stream times when each change arrives (matched by message id and data-version). Prints the
 * median of each run and the median of the runs' medians. Light on purpose: one stream, no workers.
 */
import { parseArgs } from 'node:util';
import { Arrivals } from './lib/arrivals.ts';
import { createTablo, signUp } from './lib/http.ts';
import { cleanUp } from './lib/processes.ts';
import { readFrames } from './lib/sse-text.ts';
import { percentile } from './lib/stats.ts';
import { startApp } from './lib/targets.ts';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, pairs: { type: 'string', default: '40' }, 'gap-ms': { type: 'string', default: '40' } },
  strict: true,
});
const runs = Number(args.runs);
const pairs = Number(args.pairs);
const gapMs = Number(args['gap-ms']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

function readStream(baseUrl: string, path: string, cookie: string, arrivals: Arrivals, signal: AbortSignal): Promise<void> {
  return readFrames(new URL(path, baseUrl), { Cookie: cookie }, signal, (frame) => {
    const id = /id="message-(\d+)"/.exec(frame)?.[1];
    const version = /data-version="(\d+)"/.exec(frame)?.[1];
    if (id && version) arrivals.arrived(`${id}:${version}`);
  });
}

async function main(): Promise<void> {
  const target = await startApp('app', { readers: 0 });
  try {
    const endpoint = (await target.channel('warm-up')).endpoints[0]!;
    const baseUrl = `http://${endpoint.host}:${endpoint.port}`;
    const { browser: person } = await signUp(baseUrl, 'Bench Editor');
    const tabloId = await createTablo(person, 'Edit latency');
    await person.get(`/tablos/${tabloId}/discussion`);
    const headers = { 'HX-Request': 'true', 'X-CSRF-Token': person.csrfToken, Cookie: person.cookieHeader(), 'Content-Type': 'application/x-www-form-urlencoded' };
    const send = async (path: string, fields: Record<string, string>) => {
      const response = await fetch(new URL(path, baseUrl), { method: 'POST', headers, body: new URLSearchParams(fields) });
      const html = await response.text();
      if (!response.ok) throw new Error(`${path} answered ${response.status}`);
      return { id: Number(/id="message-(\d+)"/.exec(html)?.[1]), version: Number(/data-version="(\d+)"/.exec(html)?.[1]) };
    };

    const medians: { posts: number[]; edits: number[] } = { posts: [], edits: [] };
    for (let run = 1; run <= runs; run++) {
      const arrivals = new Arrivals();
      const live = new AbortController();
      const newest = Number(/stream\?after=(\d+)/.exec((await person.get(`/tablos/${tabloId}/discussion`)).html)?.[1] ?? 0);
      await readStream(baseUrl, `/tablos/${tabloId}/discussion/stream?after=${newest}`, person.cookieHeader(), arrivals, live.signal);
      await sleep(200);
      const posts: number[] = [];
      const edits: number[] = [];
      for (let n = 1; n <= pairs; n++) {
        let sentAt = now();
        const posted = await send(`/tablos/${tabloId}/discussion/messages`, { body: `run ${run} message ${n}` });
        posts.push((await arrivals.when(`${posted.id}:${posted.version}`)) - sentAt);
        await sleep(gapMs);
        sentAt = now();
        const edited = await send(`/tablos/${tabloId}/discussion/messages/${posted.id}/edit`, { body: `run ${run} message ${n}, edited` });
        edits.push((await arrivals.when(`${edited.id}:${edited.version}`)) - sentAt);
        await sleep(gapMs);
      }
      live.abort();
      const p50 = { posts: percentile(posts, 50), edits: percentile(edits, 50) };
      medians.posts.push(p50.posts);
      medians.edits.push(p50.edits);
      console.log(`run ${run}: new message p50 ${p50.posts.toFixed(1)} ms, edit p50 ${p50.edits.toFixed(1)} ms (${pairs} each)`);
    }
    console.log(
      `median of ${runs} runs: new message ${percentile(medians.posts, 50).toFixed(1)} ms, edit ${percentile(medians.edits, 50).toFixed(1)} ms (post→delivered, one reader, one instance)`,
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
