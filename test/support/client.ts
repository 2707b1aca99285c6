/**
 * A small browser stand-in over real HTTP: keeps its cookies, never follows redirects (tests look
 * at them), and fills in the CSRF token from the last page it read, as a form would.
 */
export class Client {
  private readonly cookies = new Map<string, string>();
  csrfToken: string | undefined;

  constructor(readonly baseUrl: string) {}

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('Cookie', this.cookieHeader());
    const response = await fetch(new URL(path, this.baseUrl), { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(cookie) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /** GET a page and remember its CSRF token. */
  async get(path: string, headers: Record<string, string> = {}): Promise<Response & { html: string }> {
    const response = await this.request(path, { headers });
    const html = await response.text();
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1];
    if (token) this.csrfToken = token;
    return Object.assign(response, { html });
  }

  /** POST a form; `_csrf` is the page's token unless the fields say otherwise. */
  async post(path: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
    const body = new URLSearchParams({ _csrf: this.csrfToken ?? '', ...fields });
    const response = await this.request(path, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    });
    const html = await response.text();
    return Object.assign(response, { html });
  }

  /** The Cookie header this client sends (for raw-socket requests). */
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }
}

let counter = 0;

export type Person = { client: Client; id: number; email: string; name: string; password: string };

/** Registers a new person through the real form and returns them signed in. */
export async function registerPerson(baseUrl: string, name = 'Ada'): Promise<Person> {
  const client = new Client(baseUrl);
  const email = `${name.toLowerCase().replace(/\W+/g, '')}.${process.pid}.${++counter}.${Date.now()}@example.test`;
  const password = 'correct horse battery';
  await client.get('/register');
  const response = await client.post('/register', { email, name, password });
  if (response.status !== 303) throw new Error(`registration failed: ${response.status} ${response.html.slice(0, 300)}`);
  const page = await client.get('/tablos');
  const id = Number(/<meta name="current-user-id" content="(\d+)"/.exec(page.html)?.[1]);
  return { client, id, email, name, password };
}

/** Creates a tablo through the real form; answers its id. */
export async function createTablo(person: Person, title = 'Team room'): Promise<number> {
  await person.client.get('/tablos');
  const response = await person.client.post('/tablos', { title });
  const id = Number(/^\/tablos\/(\d+)\/discussion$/.exec(response.headers.get('location') ?? '')?.[1]);
  if (response.status !== 303 || !id) throw new Error(`creating a tablo failed: ${response.status}`);
  return id;
}
