/**
 * `npx tsx bench/search.ts [--messages 1000000] [--tablos 1000] [--member-of 50] [--queries 100]`:
 * search latency on a large discussion history. On a throwaway database (made and dropped on the
 * server at BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres),
 * with the app's migrations, it fills `messages` messages over `tablos` tablos in bulk
 * (INSERT … SELECT generate_series), eight words each from a vocabulary of 8,000, so each word is in
 * about 0.1 % of messages; the searcher is a member of `member-of` tablos. It then times the app's
 * own search (searchMessages: the SQL the route runs) for two-word queries of random words, and
 * prints p50/p95 — once with both words whole, once with the last one a prefix (typing). Bounded: the
 * load is a fixed number of statements and the queries run one after the other.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { createDatabase, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { readQuery, searchMessages } from '../src/search/search.ts';
import { fmt, percentile } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    tablos: { type: 'string', default: '1000' },
    'member-of': { type: 'string', default: '50' },
    queries: { type: 'string', default: '100' },
  },
  strict: true,
});
const MESSAGES = Number(args.messages);
const TABLOS = Number(args.tablos);
const MEMBER_OF = Number(args['member-of']);
const QUERIES = Number(args.queries);
const VOCABULARY = 8000;
const WORDS_PER_MESSAGE = 8;
const AUTHORS = 100;
const BATCH = 100_000;

const server = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `tablo_bench_search_${randomBytes(4).toString('hex')}`;
const admin = async (statement: string) => {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
};
const now = () => performance.now();
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

await admin(`CREATE DATABASE ${name}`);
const url = new URL(server);
url.pathname = `/${name}`;
const pool = createPool(url.toString(), pino({ level: 'silent' }), 2);
const db = createDatabase(pool);
try {
  await migrateToLatest(db);
  log(`database ${name}: loading ${MESSAGES.toLocaleString('en')} messages over ${TABLOS} tablos`);
  const started = now();
  await sql`
    INSERT INTO users (email, name, handle, password_hash)
    SELECT 'author' || i || '@bench.test', 'Author ' || i, 'author' || i, 'x' FROM generate_series(1, ${AUTHORS}::int) i`.execute(db);
  await sql`
    INSERT INTO tablos (title, owner_id, last_seq)
    SELECT 'Tablo ' || i, 1, ${Math.ceil(MESSAGES / TABLOS)} FROM generate_series(1, ${TABLOS}::int) i`.execute(db);
  // The searcher (author 1) is a member of every 20th tablo: 50 of 1,000, spread out.
  const step = Math.floor(TABLOS / MEMBER_OF);
  await sql`
    INSERT INTO tablo_members (tablo_id, user_id, role)
    SELECT t.id, 1, 'owner' FROM tablos t WHERE t.id % ${step} = 0 LIMIT ${MEMBER_OF}`.execute(db);
  // Bulk loading: the GIN index is built once, after. (The words' subquery refers to `i` so that
  // it runs, with fresh random words, for each message.)
  await sql`DROP INDEX messages_search_idx`.execute(db);
  for (let from = 0; from < MESSAGES; from += BATCH) {
    const to = Math.min(MESSAGES, from + BATCH) - 1;
    await sql`
      INSERT INTO messages (tablo_id, seq, author_id, body, created_at)
      SELECT (i % ${TABLOS}::int) + 1, (i / ${TABLOS}::int) + 1, (i % ${AUTHORS}::int) + 1,
             (SELECT string_agg('w' || floor(random() * ${VOCABULARY}::int)::int, ' ') FROM generate_series(1, ${WORDS_PER_MESSAGE}::int) WHERE i >= 0),
             now() - make_interval(secs => ${MESSAGES}::int - i)
      FROM generate_series(${from}::int, ${to}::int) i`.execute(db);
    log(`  ${(to + 1).toLocaleString('en')} messages`);
  }
  await sql`CREATE INDEX messages_search_idx ON messages USING gin (search_vector)`.execute(db);
  await sql`VACUUM ANALYZE messages`.execute(db);
  await sql`ANALYZE`.execute(db);
  log(`loaded and indexed in ${fmt((now() - started) / 1000)} s`);
  const { rows: share } = await sql<{ share: number }>`
    SELECT count(*) FILTER (WHERE search_vector @@ 'w42'::tsquery)::float / count(*) AS share FROM messages`.execute(db);
  log(`one word's share of messages: ${fmt(100 * share[0]!.share, 3)} %`);

  const word = () => `w${Math.floor(Math.random() * VOCABULARY)}`;
  for (const typing of [false, true]) {
    const times: number[] = [];
    let found = 0;
    // Warm-up, not counted: the first queries read the index from disk.
    for (let i = 0; i < 5; i++) await searchMessages(db, 1, readQuery(`${word()} ${word()} `));
    for (let i = 0; i < QUERIES; i++) {
      const query = readQuery(typing ? `${word()} ${word().slice(0, -1)}` : `${word()} ${word()} `);
      const t = now();
      const result = await searchMessages(db, 1, query);
      times.push(now() - t);
      found += result.results.length;
    }
    log(
      `${typing ? 'two words, the last a prefix' : 'two whole words'}: ${QUERIES} queries, ` +
        `p50 ${fmt(percentile(times, 50), 2)} ms, p95 ${fmt(percentile(times, 95), 2)} ms, max ${fmt(Math.max(...times), 2)} ms, ` +
        `${fmt(found / QUERIES, 2)} results per query`,
    );
  }
} finally {
  await db.destroy();
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
