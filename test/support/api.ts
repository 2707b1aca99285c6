import assert from 'node:assert/strict';
import type { Person } from './client.ts';
import { elementById } from './discussion.ts';

/** Makes a personal API token through the settings form; answers it and its id. */
export async function newToken(person: Person, name = 'script'): Promise<{ value: string; id: number }> {
  await person.client.get('/settings/tokens');
  const page = await person.client.post('/settings/tokens', { name });
  assert.equal(page.status, 200, `creating a token answered ${page.status}`);
  const value = elementById(page.html, 'new-token-value')?.inner.trim() ?? '';
  const ids = [...page.html.matchAll(/id="token-(\d+)"/g)].map((m) => Number(m[1]));
  return { value, id: Math.max(...ids) };
}

/** Makes a bot in a tablo through the owner's form; answers the page, the bot's id and its token. */
export async function newBot(owner: Person, tabloId: number, fields: Record<string, string>) {
  await owner.client.get(`/tablos/${tabloId}`);
  const page = await owner.client.post(`/tablos/${tabloId}/bots`, fields);
  const token = elementById(page.html, 'new-token-value')?.inner.trim();
  const secret = elementById(page.html, 'new-webhook-secret')?.inner.trim();
  const botId = Number(/id="bot-(\d+)"/.exec(page.html)?.[1]);
  return { status: page.status, html: page.html, token, secret, botId };
}

export type ApiAnswer = { status: number; headers: Headers; body: unknown };

/** One API call with a bearer token (or none), JSON in and out. */
export async function api(baseUrl: string, token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  const response = await fetch(new URL(`/api/v1${path}`, baseUrl), {
    method,
    headers: {
      ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}
