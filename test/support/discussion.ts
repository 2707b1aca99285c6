import assert from 'node:assert/strict';
import type { Database } from '../../src/db/database.ts';
import type { Person } from './client.ts';

/** Makes someone a member of a tablo directly in the database (as accepting an invitation would). */
export async function addMember(db: Database, tabloId: number, userId: number): Promise<void> {
  await db.insertInto('tablo_members').values({ tablo_id: tabloId, user_id: userId, role: 'member' }).execute();
}

export type Posted = Response & { html: string };

/**
 * Posts to the composer as htmx would (`HX-Request`, the CSRF header and field), or as a plain
 * form. Uses the CSRF token of the last page the person's client read.
 */
export function postMessage(
  person: Person,
  tabloId: number,
  body: string,
  options: { htmx?: boolean; clientToken?: string; fields?: Record<string, string> } = {},
): Promise<Posted> {
  const htmx = options.htmx ?? true;
  const fields: Record<string, string> = { body, ...options.fields };
  if (options.clientToken !== undefined) fields.client_token = options.clientToken;
  const headers: Record<string, string> = htmx ? { 'HX-Request': 'true', 'X-CSRF-Token': person.client.csrfToken ?? '' } : {};
  return person.client.post(`/tablos/${tabloId}/discussion/messages`, fields, headers);
}

/** Posts with htmx and insists on 201; answers the fragment and what it says of itself. */
export async function postOk(person: Person, tabloId: number, body: string, clientToken?: string): Promise<Article> {
  const response = await postMessage(person, tabloId, body, { clientToken });
  assert.equal(response.status, 201, `posting answered ${response.status}: ${response.html.slice(0, 200)}`);
  return parseArticle(response.html);
}

/** Posts `count` messages with `body(i)` (i from 1), `concurrency` at a time; answers them by seq. */
export async function postMany(
  person: Person,
  tabloId: number,
  count: number,
  body: (i: number) => string = (i) => `message ${i}`,
  concurrency = 1,
): Promise<Article[]> {
  const posted: Article[] = [];
  let next = 1;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next <= count) posted.push(await postOk(person, tabloId, body(next++)));
    }),
  );
  return posted.sort((a, b) => a.seq - b.seq);
}

export type Article = {
  html: string;
  id: number;
  seq: number;
  version: number;
  authorId: number;
  bodyHtml: string;
  author: string;
  datetime: string;
  deleted: boolean;
};

/** The attributes of an HTML start tag, in any order. */
export function attributes(startTag: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const m of startTag.matchAll(/\s([\w:-]+)(?:="([^"]*)")?/g)) found[m[1]!] = m[2] ?? '';
  return found;
}

/**
 * Checks that `html` is exactly one message fragment — `article#message-{id}.message[data-author-id]
 * [data-seq][data-version]` with `.message-author`, `.message-body` and `time[datetime]`, or, once
 * deleted, `[data-deleted].message-deleted` with only its time — and reads it.
 */
export function parseArticle(html: string): Article {
  const whole = /^<article\b([^>]*)>([\s\S]*)<\/article>$/.exec(html);
  assert.ok(whole, `not exactly one article: ${html.slice(0, 200)}`);
  assert.equal(html.match(/<article\b/g)?.length, 1, 'exactly one article');
  const attrs = attributes(whole[1]!);
  const id = Number(/^message-(\d+)$/.exec(attrs.id ?? '')?.[1]);
  assert.ok(id > 0, `article id: ${attrs.id}`);
  assert.ok((attrs.class ?? '').split(/\s+/).includes('message'), `article class: ${attrs.class}`);
  assert.match(attrs['data-author-id'] ?? '', /^\d+$/);
  assert.match(attrs['data-seq'] ?? '', /^\d+$/);
  assert.match(attrs['data-version'] ?? '', /^[1-9]\d*$/);
  const inner = whole[2]!;
  const time = /<time\b[^>]*\bdatetime="([^"]+)"/.exec(inner);
  assert.ok(time, 'time[datetime]');
  assert.ok(!Number.isNaN(Date.parse(time[1]!)), `datetime: ${time[1]}`);
  const common = { html, id, seq: Number(attrs['data-seq']), version: Number(attrs['data-version']), authorId: Number(attrs['data-author-id']), datetime: time[1]! };
  if ('data-deleted' in attrs) {
    assert.ok((attrs.class ?? '').split(/\s+/).includes('message-deleted'), `a deleted article's class: ${attrs.class}`);
    assert.doesNotMatch(inner, /message-author|message-body|class="reactions"/, 'a deleted message shows nothing of what it was');
    return { ...common, author: '', bodyHtml: '', deleted: true };
  }
  const author = /<(\w+)\b[^>]*\bclass="(?:[^"]*\s)?message-author(?:\s[^"]*)?"[^>]*>([\s\S]*?)<\/\1>/.exec(inner);
  assert.ok(author, '.message-author');
  const body = /<div\b[^>]*\bclass="(?:[^"]*\s)?message-body(?:\s[^"]*)?"[^>]*>([\s\S]*?)<\/div>(?:<div class="reactions">(?:<button\b[^>]*>[^<]*<\/button>)*<\/div>)?\s*$/.exec(inner);
  assert.ok(body, '.message-body');
  return { ...common, author: author[2]!, bodyHtml: body[1]!, deleted: false };
}

/** Every message article in a page or fragment, in document order. */
export function articlesIn(html: string): Article[] {
  return [...html.matchAll(/<article\b[^>]*>[\s\S]*?<\/article>/g)].map((m) => parseArticle(m[0]));
}

/** The inside of the element with this id (no nested element of the same tag name assumed). */
export function elementById(html: string, id: string): { tag: string; attrs: Record<string, string>; inner: string } | undefined {
  const open = new RegExp(`<(\\w+)\\b([^>]*\\sid="${id}"[^>]*)>`).exec(html);
  if (!open) return undefined;
  const tag = open[1]!;
  const rest = html.slice(open.index + open[0].length);
  // Count nested elements of the same name to find the matching close tag.
  let depth = 1;
  const tags = new RegExp(`<(/?)${tag}\\b[^>]*>`, 'g');
  for (const m of rest.matchAll(tags)) {
    depth += m[1] ? -1 : 1;
    if (depth === 0) return { tag, attrs: attributes(` ${open[2]!}`), inner: rest.slice(0, m.index) };
  }
  return undefined;
}

/** How many messages a tablo has in the database. */
export async function storedCount(db: Database, tabloId: number): Promise<number> {
  const row = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('tablo_id', '=', tabloId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The unread badge of a tablo on /tablos: its number (0 when empty) and whether it is hidden. */
export async function unreadBadge(person: Person, tabloId: number): Promise<{ count: number; hidden: boolean }> {
  const page = await person.client.get('/tablos');
  assert.equal(page.status, 200);
  const item = elementById(page.html, `tablo-${tabloId}`);
  assert.ok(item, `li#tablo-${tabloId}`);
  const badge = /<span\b([^>]*\bclass="(?:[^"]*\s)?unread-count(?:\s[^"]*)?"[^>]*)>([^<]*)<\/span>/.exec(item.inner);
  assert.ok(badge, '.unread-count');
  const text = badge[2]!.trim();
  assert.match(text, /^\d*$/, `badge text: ${text}`);
  return { count: text ? Number(text) : 0, hidden: 'hidden' in attributes(` ${badge[1]!}`) };
}

/** Polls until `test` answers true, or fails after `timeoutMs`. */
export async function eventually(test: () => Promise<boolean>, timeoutMs = 10_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await test()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
