import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import os from 'node:os';
import pg from 'pg';
import { isLoopbackPeer } from '../src/web/metrics.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client } from './support/client.ts';

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

const get = (base: string, path: string, headers: Record<string, string> = {}) => fetch(new URL(path, base), { headers, redirect: 'manual' });

/** Runs statements on the test PostgreSQL server as its admin (outside the app's database). */
async function admin(...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  client.on('error', () => {});
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

describe('health', () => {
  it('GET /healthz answers 200 ok, without a session cookie', async () => {
    const response = await get(app.url, '/healthz');
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'ok');
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  it('GET /readyz answers 200 while the database answers', async () => {
    const response = await get(app.url, '/readyz');
    assert.equal(response.status, 200);
    await response.text();
  });

  it('GET /readyz answers 503 while the database is unreachable, recovers, and the app keeps running', async () => {
    const doomed = await startTestApp({
      // An idle pooled connection whose backend is terminated says one or the other, by a race.
      expectErrors: [/terminating connection due to administrator command|is not currently accepting connections|does not exist|Connection terminated unexpectedly/],
    });
    const name = new URL(doomed.databaseUrl).pathname.slice(1);
    assert.match(name, /^tablo_test_\w+$/);
    const status = async (path: string) => {
      const response = await get(doomed.url, path);
      await response.text();
      return response.status;
    };
    try {
      assert.equal(await status('/readyz'), 200);
      // A signed-in person, to see what pages do while the database is gone.
      const client = new Client(doomed.url);
      await client.get('/register');
      const registered = await client.post('/register', { email: 'ops@example.test', name: 'Ops', password: 'long enough' });
      assert.equal(registered.status, 303);

      // No new connections, and the open ones are cut.
      await admin(
        `ALTER DATABASE ${name} ALLOW_CONNECTIONS false`,
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`,
      );
      assert.equal(await status('/readyz'), 503);
      assert.equal(await status('/healthz'), 200);
      const page = await client.get('/tablos');
      assert.equal(page.status, 500, 'a page without its database fails cleanly');
      assert.equal(doomed.logs.matching('request failed').length, 1, 'and the failure is logged');
      assert.equal(await status('/healthz'), 200);

      // The database comes back: so does readiness, and the session is still there.
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      assert.equal(await status('/readyz'), 200);
      assert.equal((await client.get('/tablos')).status, 200);

      // The database is dropped for good.
      await admin(`DROP DATABASE ${name} WITH (FORCE)`);
      assert.equal(await status('/readyz'), 503);
      assert.equal(await status('/readyz'), 503);
      assert.equal((await client.get('/tablos')).status, 500);
      // The sign-in page needs no database: it still answers.
      assert.equal(await status('/login'), 200);
      assert.equal(await status('/healthz'), 200);
    } finally {
      await doomed.close();
    }
  });
});

describe('metrics', () => {
  it('GET /metrics answers Prometheus text with process and request-duration metrics', async () => {
    // Some traffic to be measured first.
    // Bodies are read to the end: the server records a request when it has finished answering.
    for (const path of ['/healthz', '/login', '/tablos/12345', '/no-such-page']) await (await get(app.url, path)).text();
    const response = await get(app.url, '/metrics');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.match(text, /^process_cpu\w* \d/m);
    assert.match(text, /^# TYPE tablo_http_request_duration_seconds histogram$/m);
    assert.match(text, /^tablo_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} [1-9]/m);
    assert.match(text, /^tablo_http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/login",status="200"\} [1-9]/m);
    // Labels name the route pattern, never the raw URL.
    assert.match(text, /route="\/tablos\/:tabloId",status="303"/);
    assert.doesNotMatch(text, /route="\/tablos\/12345"|route="\/no-such-page"/);
  });

  it('with METRICS_TOKEN, needs Authorization: Bearer <token>', async () => {
    const token = 'metrics-token-for-tests';
    const guarded = await startTestApp({ env: { METRICS_TOKEN: token } });
    try {
      const denied = async (headers: Record<string, string>) => {
        const response = await get(guarded.url, '/metrics', headers);
        assert.equal(response.status, 401, JSON.stringify(headers));
        assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
        assert.doesNotMatch(await response.text(), /process_cpu/);
      };
      await denied({});
      await denied({ Authorization: 'Bearer wrong' });
      await denied({ Authorization: `Bearer ${token}x` });
      await denied({ Authorization: `Bearer ${token.slice(0, -1)}` });
      await denied({ Authorization: token });
      await denied({ Authorization: `Basic ${Buffer.from(`user:${token}`).toString('base64')}` });

      const allowed = await get(guarded.url, '/metrics', { Authorization: `Bearer ${token}` });
      assert.equal(allowed.status, 200);
      assert.match(await allowed.text(), /process_cpu/);
      // The rest of the app does not need the token.
      assert.equal((await get(guarded.url, '/healthz')).status, 200);
    } finally {
      await guarded.close();
    }
  });

  it('without METRICS_TOKEN, /metrics answers a loopback peer (control for the case above)', async () => {
    const response = await get(app.url, '/metrics');
    assert.equal(response.status, 200);
    await response.text();
  });

  it('the peer is judged by the socket: a loopback address is local, anything else is not', () => {
    for (const local of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackPeer(local), true, local);
    for (const remote of ['192.0.2.2', '10.0.0.1', '::ffff:10.0.0.1', 'fd00::2', '128.0.0.1', '1127.0.0.1', '::2', '', undefined]) {
      assert.equal(isLoopbackPeer(remote), false, String(remote));
    }
  });

  it('behind TRUST_PROXY, a forwarded address changes nothing: a loopback socket still gets 200', async () => {
    const proxied = await startTestApp({ env: { TRUST_PROXY: 'true' } });
    try {
      const response = await get(proxied.url, '/metrics', { 'X-Forwarded-For': '203.0.113.9' });
      assert.equal(response.status, 200);
      await response.text();
    } finally {
      await proxied.close();
    }
  });

  it('without METRICS_TOKEN, a peer that is not loopback gets 404, even claiming to be 127.0.0.1 through a proxy', async (t) => {
    const address = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    if (!address) {
      t.skip('this machine has no address but loopback: the rule is tested through isLoopbackPeer above');
      return;
    }
    const everywhere = await startTestApp({ env: { HOST: '0.0.0.0', TRUST_PROXY: 'true' } });
    try {
      const base = `http://${address}:${new URL(everywhere.url).port}`;
      const response = await get(base, '/metrics', { 'X-Forwarded-For': '127.0.0.1' });
      assert.equal(response.status, 404);
      assert.doesNotMatch(await response.text(), /process_cpu/);
      const health = await get(base, '/healthz');
      assert.equal(health.status, 200, 'the rest of the app answers that peer');
      await health.text();
    } finally {
      await everywhere.close();
    }
  });
});

describe('static files', () => {
  for (const path of ['/static/htmx/htmx.min.js', '/static/htmx/ext/hx-sse.min.js', '/static/tablo.js']) {
    it(`serves ${path} as JavaScript`, async () => {
      const response = await get(app.url, path);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /javascript/);
      assert.ok((await response.text()).length > 100);
      assert.deepEqual(response.headers.getSetCookie(), [], 'static files start no session');
    });
  }

  it('serves the stylesheet as CSS', async () => {
    const response = await get(app.url, '/static/app.css');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/css/);
    await response.text();
  });

  it('answers 404 for a missing static file', async () => {
    const response = await get(app.url, '/static/no-such-file.js');
    assert.equal(response.status, 404);
    await response.text();
  });

  it('every script the layout loads is served', async () => {
    const page = await new Client(app.url).get('/login');
    const sources = [...page.html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(sources.length >= 3);
    for (const source of sources) {
      const response = await get(app.url, source);
      assert.equal(response.status, 200, source);
      await response.text();
    }
  });
});
