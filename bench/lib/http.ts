/**
 * The driver's HTTP: a small cookie-keeping client for setting things up (register, create a
 * tablo — the real forms, CSRF and all), and a keep-alive poster for the timed messages.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';

export class Browser {
  private readonly cookies = new Map<string, string>();
  csrfToken = '';

  constructor(readonly baseUrl: string) {}

  async request(path: string, init: RequestInit = {}): Promise<{ status: number; location: string; html: string }> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('Cookie', this.cookieHeader());
    const response = await fetch(new URL(path, this.baseUrl), { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const index = pair.indexOf('=');
      this.cookies.set(pair.slice(0, index).trim(), pair.slice(index + 1).trim());
    }
    const html = await response.text();
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1];
    if (token) this.csrfToken = token;
    return { status: response.status, location: response.headers.get('location') ?? '', html };
  }

  get(path: string) {
    return this.request(path);
  }

  /** A form POST with this page's CSRF token. */
  post(path: string, fields: Record<string, string>) {
    return this.request(path, {
      method: 'POST',
      body: new URLSearchParams({ _csrf: this.csrfToken, ...fields }),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
  }

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export const BENCH_PASSWORD = 'bench password 1234';

/** A new person, registered through the real form and signed in (the page's CSRF token read). */
export async function signUp(baseUrl: string, name: string): Promise<{ browser: Browser; email: string }> {
  const browser = new Browser(baseUrl);
  const email = `${name.toLowerCase().replace(/\W+/g, '-')}.${randomBytes(3).toString('hex')}@bench.test`;
  await browser.get('/register');
  const answer = await browser.post('/register', { email, name, password: BENCH_PASSWORD });
  if (answer.status !== 303) throw new Error(`registering ${name} failed: ${answer.status} ${answer.html.slice(0, 200)}`);
  await browser.get('/tablos');
  return { browser, email };
}

/** A tablo made through the real form by `browser`'s person; answers its id. */
export async function createTablo(browser: Browser, title: string): Promise<number> {
  const created = await browser.post('/tablos', { title });
  const tabloId = Number(/^\/tablos\/(\d+)(?:\/discussion)?$/.exec(created.location)?.[1]);
  if (created.status !== 303 || !tabloId) throw new Error(`creating a tablo failed: ${created.status}`);
  return tabloId;
}

export type PostResult = {
  status: number;
  sentAt: number;
  answeredAt: number;
  /** The number the server gave the message (its seq or id), when the answer says. */
  id?: number;
};

const now = () => performance.timeOrigin + performance.now();

/** Posts over one kept-alive connection, one request at a time; records when each was sent. */
export class Poster {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly host: string,
    private readonly port: number,
    /** Finds the message's number in an answer (the app's fragment has `data-seq`; the others answer the id). */
    private readonly readId: (body: string) => number | undefined = (body) => {
      const id = Number(/data-seq="(\d+)"/.exec(body)?.[1] ?? body.trim());
      return Number.isInteger(id) && id > 0 ? id : undefined;
    },
  ) {}

  send(path: string, body: string, headers: Record<string, string>): Promise<PostResult> {
    return new Promise((resolve, reject) => {
      const payload = Buffer.from(body);
      const request = http.request(
        {
          host: this.host,
          port: this.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { ...headers, 'Content-Length': payload.length },
          timeout: 30_000,
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (part: string) => {
            if (body.length < 4_096) body += part;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, sentAt, answeredAt: now(), id: this.readId(body) }));
        },
      );
      request.on('timeout', () => request.destroy(new Error('post timed out')));
      request.on('error', reject);
      const sentAt = now();
      request.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
