/**
 * The servers under test. A target is some server processes (whose memory and CPU are measured),
 * and channels on them: a place subscribers open streams (endpoints) and a way to post one
 * message to it. Adding a target — two app instances on REALTIME_BUS=postgres with the endpoints
 * split between them, or a Socket.IO server — means adding a function here that answers the
 * same shape.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Browser, Poster, type PostResult } from './http.ts';
import { onCleanUp, type Server, startServer } from './processes.ts';
import type { Endpoint } from './protocol.ts';

export type Channel = {
  /** Subscribers spread over these, round-robin. */
  endpoints: Endpoint[];
  /** Posts message number `n` (1, 2, …) and answers when the server has answered. */
  post: (n: number) => Promise<PostResult>;
};

export type Target = {
  kind: string;
  /** The server processes: their RSS and CPU are the server's. */
  pids: number[];
  /** A fresh channel (a tablo, a topic) nobody has used yet. */
  channel: (name: string) => Promise<Channel>;
  /** When a server process has died: which, how, and the end of its output. */
  deathNotice: () => string | undefined;
  stop: () => Promise<void>;
};

function deathNotice(server: Server, name: string): string | undefined {
  const { exitCode, signalCode } = server.child;
  if (exitCode === null && signalCode === null) return undefined;
  return `${name} (pid ${server.pid}) exited with ${exitCode ?? signalCode}; its last output:\n${server.output().slice(-3_000)}`;
}

export type TargetKind = 'app' | 'bare';

const HOST = '127.0.0.1';

/** About 200 characters of text, like a chat message of a few lines. */
export function messageBody(n: number): string {
  const text = `Message ${n} from the benchmark: the quick brown fox jumps over the lazy dog; `;
  return text.repeat(4).slice(0, 200).trim();
}

/** The bare node:http SSE fan-out (bench/bare-sse-server.ts). */
export async function startBare(options: ServerOptions = {}): Promise<Target> {
  const server = await startServer({
    name: 'bare SSE server',
    entry: 'bench/bare-sse-server.ts',
    nodeArgs: options.nodeArgs,
    env: { ...process.env, PORT: '0', HOST },
    portFrom: /listening on port (\d+)/,
    timeoutMs: 20_000,
  });
  const posters: Poster[] = [];
  return {
    kind: 'bare',
    pids: [server.pid],
    deathNotice: () => deathNotice(server, 'the bare server'),
    channel: async (name) => {
      const topic = encodeURIComponent(name);
      const poster = new Poster(HOST, server.port);
      posters.push(poster);
      return {
        endpoints: [{ host: HOST, port: server.port, path: `/stream?topic=${topic}`, headers: {} }],
        post: (n) => poster.send(`/post?topic=${topic}`, messageBody(n), { 'Content-Type': 'text/plain; charset=utf-8' }),
      };
    },
    stop: async () => {
      for (const poster of posters) poster.close();
      await server.stop();
    },
  };
}

/** The PostgreSQL server on which each app run gets its own database. */
export function databaseServerUrl(): string {
  return process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
}

async function withAdmin(work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: databaseServerUrl(), connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database, dropped at clean-up (or by the answered function). */
async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tablo_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const drop = onCleanUp(`database ${name}`, () =>
    withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  );
  const url = new URL(databaseServerUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), drop };
}

export type AppOptions = {
  /** Distinct signed-in people whose sessions the subscribers use (all members of every channel). */
  readers: number;
};

/** What every target is started with. */
export type ServerOptions = {
  /** Extra node arguments for the server processes (profiling: `--cpu-prof`, `--heapsnapshot-signal=SIGUSR2`). */
  nodeArgs?: string[];
};

/**
 * Tablo itself: `node --import tsx src/main.ts` on a fresh database. A poster registers and
 * creates one tablo per channel through the real forms; the readers register too and are added
 * as members through the owner's form. Subscribers use the readers' session cookies in turn.
 */
export async function startApp(options: AppOptions & ServerOptions): Promise<Target> {
  const database = await createDatabase();
  let server: Server;
  try {
    server = await startServer({
      name: 'Tablo app server',
      entry: 'src/main.ts',
      nodeArgs: options.nodeArgs,
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        PORT: '0',
        HOST,
        LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
        SESSION_SECRET: randomBytes(32).toString('hex'),
        DATA_DIR: path.join(os.tmpdir(), `tablo-bench-${process.pid}`),
        REALTIME_BUS: 'memory',
      },
      portFrom: /Tablo is ready at http:\/\/[^:\s]+:(\d+)/,
      timeoutMs: 60_000,
    });
  } catch (error) {
    await database.drop();
    throw error;
  }
  const baseUrl = `http://${HOST}:${server.port}`;

  const register = async (name: string): Promise<{ browser: Browser; email: string }> => {
    const browser = new Browser(baseUrl);
    const email = `${name.toLowerCase().replace(/\W+/g, '-')}.${randomBytes(3).toString('hex')}@bench.test`;
    await browser.get('/register');
    const answer = await browser.post('/register', { email, name, password: 'bench password 1234' });
    if (answer.status !== 303) throw new Error(`registering ${name} failed: ${answer.status} ${answer.html.slice(0, 200)}`);
    await browser.get('/tablos'); // the signed-in session's CSRF token
    return { browser, email };
  };

  const poster = await register('Bench Poster');
  const readers: Array<{ browser: Browser; email: string }> = [];
  for (let i = 1; i <= options.readers; i++) readers.push(await register(`Bench Reader ${i}`));
  const posting = new Poster(HOST, server.port);

  return {
    kind: 'app',
    pids: [server.pid],
    deathNotice: () => deathNotice(server, 'the app server'),
    channel: async (name) => {
      const created = await poster.browser.post('/tablos', { title: name });
      const tabloId = Number(/^\/tablos\/(\d+)$/.exec(created.location)?.[1]);
      if (created.status !== 303 || !tabloId) throw new Error(`creating a tablo failed: ${created.status}`);
      await poster.browser.get(`/tablos/${tabloId}`);
      for (const reader of readers) {
        const added = await poster.browser.post(`/tablos/${tabloId}/members`, { email: reader.email });
        if (added.status !== 303) throw new Error(`adding a member failed: ${added.status} ${added.html.slice(0, 200)}`);
      }
      await poster.browser.get(`/tablos/${tabloId}/discussion`);
      const csrf = poster.browser.csrfToken;
      const cookie = poster.browser.cookieHeader();
      const token = randomBytes(4).toString('hex');
      const sessions = readers.length ? readers : [poster];
      return {
        endpoints: sessions.map((reader) => ({
          host: HOST,
          port: server.port,
          path: `/tablos/${tabloId}/discussion/stream`,
          headers: { Cookie: reader.browser.cookieHeader() },
        })),
        post: (n) =>
          posting.send(
            `/tablos/${tabloId}/discussion/messages`,
            new URLSearchParams({ _csrf: csrf, body: messageBody(n), client_token: `bench-${token}-${n}` }).toString(),
            { 'Content-Type': 'application/x-www-form-urlencoded', 'HX-Request': 'true', Cookie: cookie },
          ),
      };
    },
    stop: async () => {
      posting.close();
      await server.stop();
      await database.drop();
    },
  };
}

export function startTarget(kind: TargetKind, options: AppOptions & ServerOptions): Promise<Target> {
  return kind === 'app' ? startApp(options) : startBare(options);
}
