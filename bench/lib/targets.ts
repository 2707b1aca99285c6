/**
 * The servers under test. A target is some server processes (whose memory and CPU are measured),
 * and channels on them: a place subscribers open streams (endpoints) and a way to post messages
 * to it.
 *
 *   app        Tablo, one instance, REALTIME_BUS=memory (the default deployment)
 *   app-pg     Tablo, one instance, REALTIME_BUS=postgres (LISTEN/NOTIFY with nobody else listening)
 *   app-2x     Tablo, two instances on one database, REALTIME_BUS=postgres; streams alternate
 *              between them, posts go through the first
 *   app-cluster  Tablo, one instance of WEB_CONCURRENCY workers (ServerOptions.processes, 2 by
 *              default) behind one port, REALTIME_BUS=postgres
 *   bare       bench/bare-sse-server.ts: node:http SSE fan-out, the ceiling (clustered too when
 *              ServerOptions.processes > 1)
 *   socketio   bench/socketio-server.ts: a Socket.IO room broadcast
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import signature from 'cookie-signature';
import pg from 'pg';
import { BENCH_PASSWORD, Browser, createTablo, Poster, type PostResult, signUp } from './http.ts';
import { projectRoot } from './paths.ts';
import { onCleanUp, processTree, type Server, startServer } from './processes.ts';
import type { Endpoint } from './protocol.ts';

export type Post = (n: number) => Promise<PostResult>;

export type Channel = {
  /** Subscribers spread over these, round-robin. */
  endpoints: Endpoint[];
  /** Posts message number `n` (1, 2, …) and answers when the server has answered. */
  post: Post;
  /** The page that shows the channel (the app's discussion page), signed in as its owner. */
  page?: { path: string; headers: Record<string, string> };
  /**
   * `count` more ways to post, each on a connection of its own (the app's spread over the poster
   * sessions), for posting several at a time. `n` only makes bodies and client tokens unique: the
   * server numbers the messages, and the answer says which number it gave.
   */
  posters: (count: number) => Post[];
};

export type Target = {
  kind: TargetKind;
  /** The server processes: their RSS and CPU are the server's. */
  pids: number[];
  /** The database the target uses (for its PostgreSQL processes' CPU), if any. */
  databaseName?: string;
  /** A fresh channel (a tablo, a topic) nobody has used yet. */
  channel: (name: string) => Promise<Channel>;
  /** The app's own: the URL and its registered people, for the page and sign-in scenarios. */
  app?: { baseUrl: string; emails: string[]; password: string };
  /** When a server process has died: which, how, and the end of its output. */
  deathNotice: () => string | undefined;
  stop: () => Promise<void>;
};

function deathNotice(servers: Array<[Server, string]>): string | undefined {
  const notices = servers.flatMap(([server, name]) => {
    const { exitCode, signalCode } = server.child;
    if (exitCode === null && signalCode === null) return [];
    return [`${name} (pid ${server.pid}) exited with ${exitCode ?? signalCode}; its last output:\n${server.output().slice(-3_000)}`];
  });
  return notices.length ? notices.join('\n') : undefined;
}

/** A run's error, with the notice of the server's death when that is why it failed. */
export function withDeathNotice(target: Target, error: unknown): Error {
  const notice = target.deathNotice();
  if (notice) return new Error(`${(error as Error).message}\n${notice}`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}

export const TARGET_KINDS = ['app', 'app-pg', 'app-2x', 'app-cluster', 'bare', 'socketio'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
export const isAppKind = (kind: string) => kind.startsWith('app');

const HOST = '127.0.0.1';

/** About 200 characters of text, like a chat message of a few lines. */
export function messageBody(n: number): string {
  const text = `Message ${n} from the benchmark: the quick brown fox jumps over the lazy dog; `;
  return text.repeat(4).slice(0, 200).trim();
}

/** What every target is started with. */
export type ServerOptions = {
  /** Extra node arguments for the server processes (profiling: `--cpu-prof`, `--heapsnapshot-signal=SIGUSR2`). */
  nodeArgs?: string[];
  /** Keep-alive interval of the servers (app: STREAM_KEEPALIVE_MS; bare: KEEPALIVE_MS; Socket.IO: pingInterval). */
  keepAliveMs?: number;
  /** Worker processes (WEB_CONCURRENCY) of app-cluster (2 by default) and of bare (1 by default). */
  processes?: number;
};

export type AppOptions = {
  /** Distinct signed-in people whose sessions the subscribers use (all members of every channel). */
  readers: number;
  /**
   * Instead: each channel gets this many people of its own, one stream each, made in the database
   * with sessions minted there (no sign-up forms: 1,000 argon2 hashes would take minutes). A
   * person's streams hear about all of their tablos (`activity`), so a few readers shared by 100
   * tablos would each get every tablo's events on every stream, unlike any real team.
   */
  ownReaders?: number;
  /** Where the app's src/ is run from (see appSnapshot); the project itself by default. */
  appRoot?: string;
};


/** A server that knows only topics: the bare SSE fan-out or the Socket.IO one. */
async function startTopicServer(kind: 'bare' | 'socketio', options: ServerOptions): Promise<Target> {
  const socketio = kind === 'socketio';
  const keepAlive = options.keepAliveMs === undefined ? {} : socketio ? { PING_INTERVAL_MS: String(options.keepAliveMs) } : { KEEPALIVE_MS: String(options.keepAliveMs) };
  const server = await startServer({
    name: socketio ? 'Socket.IO server' : 'bare SSE server',
    entry: compiledEntry(projectRoot, socketio ? 'bench/socketio-server.ts' : 'bench/bare-sse-server.ts'),
    nodeArgs: options.nodeArgs,
    env: { ...process.env, PORT: '0', HOST, NODE_ENV: 'production', WEB_CONCURRENCY: String(socketio ? 1 : (options.processes ?? 1)), ...keepAlive },
    portFrom: /listening on port (\d+)/,
    timeoutMs: 20_000,
  });
  const posters: Poster[] = [];
  const poster = () => {
    const made = new Poster(HOST, server.port);
    posters.push(made);
    return made;
  };
  return {
    kind,
    pids: processTree(server.pid),
    deathNotice: () => deathNotice([[server, `the ${kind} server`]]),
    channel: async (name) => {
      const topic = encodeURIComponent(name);
      const postWith = (made: Poster): Post => (n) =>
        made.send(`/post?topic=${topic}`, messageBody(n), { 'Content-Type': 'text/plain; charset=utf-8' });
      return {
        endpoints: [
          socketio
            ? { host: HOST, port: server.port, path: `/socket.io/?EIO=4&transport=websocket&topic=${topic}`, headers: {}, protocol: 'socketio' }
            : { host: HOST, port: server.port, path: `/stream?topic=${topic}`, headers: {} },
        ],
        post: postWith(poster()),
        posters: (count) => Array.from({ length: count }, () => postWith(poster())),
      };
    },
    stop: async () => {
      for (const made of posters) made.close();
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
async function createDatabase(): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `tablo_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const drop = onCleanUp(`database ${name}`, () =>
    withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  );
  const url = new URL(databaseServerUrl());
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop };
}

const built = new Set<string>();

/**
 * Every server the bench measures runs as compiled JavaScript, as `npm start` runs the app: under
 * tsx (esbuild keeping every function's name) each closure a request or a stream makes costs
 * several times the memory, which would flatter no one and mislead everyone. Builds `root`'s app
 * (or the bench's servers) into its dist/ once per run; answers the entry's compiled path.
 */
export function compiledEntry(root: string, entry: string): string {
  const config = entry.startsWith('bench/') ? 'bench/tsconfig.servers.json' : 'tsconfig.build.json';
  const key = `${root} ${config}`;
  if (!built.has(key)) {
    execFileSync(path.join(projectRoot, 'node_modules', '.bin', 'tsc'), ['-p', config], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    built.add(key);
  }
  return path.join(root, 'dist', entry.replace(/\.ts$/, '.js'));
}

/**
 * The app as committed at `ref` (a branch, tag or commit), exported to a temporary folder with
 * the project's node_modules linked in: what is measured does not change while the work tree
 * does (someone editing src/ during a 15-minute run). Removed at clean-up.
 */
export function appSnapshot(ref: string): { root: string; commit: string } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const commit = git('rev-parse', '--short', `${ref}^{commit}`);
  const root = mkdtempSync(path.join(os.tmpdir(), `tablo-bench-app-${commit}-`));
  void onCleanUp(`app snapshot ${root}`, async () => rmSync(root, { recursive: true, force: true }));
  const archive = execFileSync('git', ['archive', '--format=tar', commit, 'src', 'views', 'static', 'migrations', 'package.json', 'tsconfig.json', 'tsconfig.build.json'], {
    cwd: projectRoot,
    maxBuffer: 256 * 2 ** 20,
  });
  execFileSync('tar', ['-x', '-C', root], { input: archive });
  symlinkSync(path.join(projectRoot, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  return { root, commit };
}

/**
 * Tablo itself: `node --import tsx src/main.ts` on a fresh database, one or two instances. A
 * poster registers and creates one tablo per channel through the real forms; the readers register
 * too and are added as members through the owner's form. Subscribers use the readers' session
 * cookies in turn (and, with two instances, alternate between them). Several posters use the
 * poster's and the readers' sessions in turn, each on a connection of its own.
 */
export async function startApp(kind: 'app' | 'app-pg' | 'app-2x' | 'app-cluster', options: AppOptions & ServerOptions): Promise<Target> {
  const database = await createDatabase();
  const sessionSecret = randomBytes(32).toString('hex');
  const instances = kind === 'app-2x' ? 2 : 1;
  // Explicit: with REALTIME_BUS=postgres the app would otherwise start one worker per core.
  const workers = kind === 'app-cluster' ? (options.processes ?? 2) : 1;
  const servers: Server[] = [];
  try {
    // One after the other: the first applies the migrations.
    for (let i = 1; i <= instances; i++) {
      servers.push(
        await startServer({
          name: `Tablo app server${instances > 1 ? ` ${i}` : ''}`,
          entry: compiledEntry(options.appRoot ?? projectRoot, 'src/main.ts'),
          cwd: options.appRoot,
          nodeArgs: options.nodeArgs,
          env: {
            ...process.env,
            DATABASE_URL: database.url,
            PORT: '0',
            HOST,
            LOG_LEVEL: 'warn',
            NODE_ENV: 'production',
            SESSION_SECRET: sessionSecret,
            DATA_DIR: path.join(os.tmpdir(), `tablo-bench-${process.pid}`),
            REALTIME_BUS: kind === 'app' ? 'memory' : 'postgres',
            WEB_CONCURRENCY: String(workers),
            // A benchmark posts far faster than a person may.
            POST_RATE_LIMIT: '0',
            // Its readers are a handful of people, each with hundreds of streams open.
            MAX_STREAMS_PER_USER: '0',
            ...(options.keepAliveMs === undefined ? {} : { STREAM_KEEPALIVE_MS: String(options.keepAliveMs) }),
          },
          portFrom: /Tablo is ready at http:\/\/[^:\s]+:(\d+)/,
          timeoutMs: 60_000,
        }),
      );
    }
  } catch (error) {
    for (const server of servers) await server.stop();
    await database.drop();
    throw error;
  }
  const [first] = servers as [Server, ...Server[]];
  const baseUrl = `http://${HOST}:${first.port}`;

  type Person = { browser: Browser; email: string };
  const register = (name: string): Promise<Person> => signUp(baseUrl, name);

  const owner = await register('Bench Poster');
  const ownReadersOf = async (tabloId: number, count: number): Promise<string[]> => {
    const client = new pg.Client({ connectionString: database.url });
    client.on('error', () => {});
    await client.connect();
    try {
      const tag = randomBytes(4).toString('hex');
      const { rows } = await client.query<{ id: number }>(
        `INSERT INTO users (email, name, handle, password_hash)
         SELECT 'reader-' || $1 || '-' || i || '@bench.test', 'Reader ' || i, 'r' || $1 || i, 'not-a-hash'
         FROM generate_series(1, $2::int) AS i RETURNING id`,
        [tag, count],
      );
      const ids = rows.map((row) => row.id);
      await client.query(`INSERT INTO tablo_members (tablo_id, user_id, role) SELECT $1, unnest($2::int[]), 'member'`, [tabloId, ids]);
      const expires = new Date(Date.now() + 24 * 3600_000);
      const sids = ids.map(() => randomBytes(24).toString('base64url'));
      const sessions = ids.map((userId) => ({
        cookie: { originalMaxAge: 24 * 3600_000, expires: expires.toISOString(), httpOnly: true, path: '/', sameSite: 'lax' },
        userId,
        createdAt: new Date().toISOString(),
        userAgent: 'bench',
        ip: HOST,
      }));
      await client.query(`INSERT INTO sessions (sid, sess, expire) SELECT unnest($1::text[]), unnest($2::json[]), $3`, [sids, sessions.map((x) => JSON.stringify(x)), expires]);
      // express-session's cookie: "s:" + the id signed with the secret.
      return sids.map((sid) => `tablo.sid=${encodeURIComponent(`s:${signature.sign(sid, sessionSecret)}`)}`);
    } finally {
      await client.end();
    }
  };
  const readers: Person[] = [];
  for (let i = 1; i <= options.readers; i++) readers.push(await register(`Bench Reader ${i}`));
  const connections: Poster[] = [];
  const connection = () => {
    const made = new Poster(HOST, first.port);
    connections.push(made);
    return made;
  };

  return {
    kind,
    // A clustered instance's workers are its primary's children; they are all listening by now.
    pids: servers.flatMap((s) => processTree(s.pid)),
    databaseName: database.name,
    app: { baseUrl, emails: [owner, ...readers].map((person) => person.email), password: BENCH_PASSWORD },
    deathNotice: () => deathNotice(servers.map((s, i) => [s, `the app server${instances > 1 ? ` ${i + 1}` : ''}`])),
    channel: async (name) => {
      const tabloId = await createTablo(owner.browser, name);
      await owner.browser.get(`/tablos/${tabloId}`);
      const ownCookies = options.ownReaders ? await ownReadersOf(tabloId, options.ownReaders) : [];
      for (const reader of readers) {
        const added = await owner.browser.post(`/tablos/${tabloId}/members`, { email: reader.email });
        if (added.status !== 303) throw new Error(`inviting a member failed: ${added.status} ${added.html.slice(0, 200)}`);
        // Adding someone is an invitation: they accept it from their list.
        // Channels may be made several at once: the invitation to accept is the one naming this tablo.
        const list = await reader.browser.get('/tablos');
        const item = list.html.split('<li id="invitation-').find((part) => part.includes(`<span class="invitation-tablo">${name}</span>`));
        const invitation = item && /action="\/invitations\/(\d+)\/accept"/.exec(item)?.[1];
        const accepted = invitation ? await reader.browser.post(`/invitations/${invitation}/accept`, {}) : undefined;
        if (accepted?.status !== 303) throw new Error(`accepting the invitation failed: ${accepted?.status ?? 'no invitation listed'}`);
      }
      await owner.browser.get(`/tablos/${tabloId}/discussion`);
      const token = randomBytes(4).toString('hex');
      const postAs = (person: Person, made: Poster, label: string): Post => {
        const csrf = person.browser.csrfToken;
        const cookie = person.browser.cookieHeader();
        return (n) =>
          made.send(
            `/tablos/${tabloId}/discussion/messages`,
            new URLSearchParams({ _csrf: csrf, body: messageBody(n), client_token: `bench-${token}-${label}-${n}` }).toString(),
            { 'Content-Type': 'application/x-www-form-urlencoded', 'HX-Request': 'true', Cookie: cookie },
          );
      };
      const sessions = readers.length ? readers : [owner];
      const everyone = [owner, ...readers];
      let made = 0;
      return {
        // Reader by reader, instance by instance: round-robin alternates instances.
        endpoints: (ownCookies.length ? ownCookies : sessions.map((reader) => reader.browser.cookieHeader())).flatMap((cookie) =>
          servers.map((server) => ({
            host: HOST,
            port: server.port,
            path: `/tablos/${tabloId}/discussion/stream`,
            headers: { Cookie: cookie },
          })),
        ),
        post: postAs(owner, connection(), 'owner'),
        page: { path: `/tablos/${tabloId}/discussion`, headers: { Cookie: owner.browser.cookieHeader() } },
        posters: (count) =>
          Array.from({ length: count }, () => {
            const index = made++;
            return postAs(everyone[index % everyone.length]!, connection(), `p${index}`);
          }),
      };
    },
    stop: async () => {
      for (const made of connections) made.close();
      // The second instance first: the first one's shutdown then has no one to notify.
      for (const server of [...servers].reverse()) await server.stop();
      await database.drop();
    },
  };
}

export function startTarget(kind: TargetKind, options: AppOptions & ServerOptions): Promise<Target> {
  if (kind === 'bare' || kind === 'socketio') return startTopicServer(kind, options);
  return startApp(kind, options);
}
