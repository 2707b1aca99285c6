import assert from 'node:assert/strict';
import { Client, createTablo, type Person } from './client.ts';
import { elementById } from './discussion.ts';
import { openStream, type SseEvent, type SseStream, type StreamEnd } from './sse.ts';

/** Headers of an htmx request from a page the person's client read last. */
export const htmx = (person: Person): Record<string, string> => ({ 'HX-Request': 'true', 'X-CSRF-Token': person.client.csrfToken ?? '' });

/** The owner's add-member form (it invites), posted as a plain form (or with htmx). */
export async function addByEmail(owner: Person, tabloId: number, email: string, options: { htmx?: boolean } = {}) {
  return owner.client.post(`/tablos/${tabloId}/members`, { email }, options.htmx ? htmx(owner) : {});
}

/** The pending invitations `#invitations li` of a tablo page (or member section): email → invitation id. */
export function pendingInvitations(html: string): Map<string, number> {
  const list = elementById(html, 'invitations');
  if (!list) return new Map();
  return new Map(
    [...list.inner.matchAll(/<li id="pending-invitation-(\d+)">[\s\S]*?<span class="invitation-email">([^<]*)<\/span>/g)].map((m) => [
      m[2]!,
      Number(m[1]),
    ]),
  );
}

/** The owner invites by email through the form and insists it worked; answers the invitation's id from her tablo page. */
export async function inviteOk(owner: Person, tabloId: number, email: string): Promise<number> {
  const response = await addByEmail(owner, tabloId, email);
  assert.equal(response.status, 303, `inviting ${email} answered ${response.status}: ${response.html.slice(0, 300)}`);
  assert.equal(response.headers.get('location'), `/tablos/${tabloId}`);
  const page = await owner.client.get(`/tablos/${tabloId}`);
  const id = pendingInvitations(page.html).get(email.trim().toLowerCase());
  assert.ok(id, `the invitation of ${email} is pending on the tablo page`);
  return id;
}

/** The invitation ids `li#invitation-{id}` on a person's /tablos. */
export async function invitationsOnHome(person: Person): Promise<number[]> {
  const page = await person.client.get('/tablos');
  assert.equal(page.status, 200);
  return [...page.html.matchAll(/<li id="invitation-(\d+)"/g)].map((m) => Number(m[1]));
}

/** The invited person accepts with the form on their /tablos and insists it worked. */
export async function acceptOk(person: Person, invitationId: number, tabloId: number): Promise<void> {
  assert.ok((await invitationsOnHome(person)).includes(invitationId), `${person.name} sees invitation ${invitationId} on /tablos`);
  const response = await person.client.post(`/invitations/${invitationId}/accept`);
  assert.equal(response.status, 303, `accepting answered ${response.status}: ${response.html.slice(0, 300)}`);
  assert.equal(response.headers.get('location'), `/tablos/${tabloId}`);
}

/** Makes members the only way there is: the owner invites each by email, and each accepts. */
export async function addOk(owner: Person, tabloId: number, ...people: Person[]): Promise<void> {
  for (const person of people) await acceptOk(person, await inviteOk(owner, tabloId, person.email), tabloId);
}

/** A tablo owned by `owner`, with these members added through the form. */
export async function tabloWith(owner: Person, title: string, ...members: Person[]): Promise<number> {
  const id = await createTablo(owner, title);
  await owner.client.get(`/tablos/${id}`);
  await addOk(owner, id, ...members);
  return id;
}

export const removeMember = (owner: Person, tabloId: number, userId: number, headers: Record<string, string> = {}) =>
  owner.client.post(`/tablos/${tabloId}/members/${userId}/remove`, {}, headers);

/** The user ids listed in `#members` (each `li[data-user-id]`), in page order. */
export function listedMembers(html: string): number[] {
  const list = elementById(html, 'members');
  assert.ok(list, '#members');
  return [...list.inner.matchAll(/<li\b[^>]*\bdata-user-id="(\d+)"/g)].map((m) => Number(m[1]));
}

/** The members of a tablo as its owner's page shows them. */
export async function membersOnPage(viewer: Person, tabloId: number): Promise<number[]> {
  const page = await viewer.client.get(`/tablos/${tabloId}`);
  assert.equal(page.status, 200, `the tablo page answered ${page.status}`);
  return listedMembers(page.html);
}

/** The tablo ids listed on /tablos. */
export async function listedTablos(person: Person): Promise<number[]> {
  const page = await person.client.get('/tablos');
  assert.equal(page.status, 200);
  return [...page.html.matchAll(/<li id="tablo-(\d+)"/g)].map((m) => Number(m[1]));
}

export const h1 = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];

/** How the stream ended, once it has; fails after `timeoutMs` rather than waiting for ever. */
export async function ended(stream: SseStream, timeoutMs = 10_000): Promise<StreamEnd> {
  await stream.waitFor((s) => s.endedAs !== undefined, timeoutMs, 'the stream to end');
  return stream.endedAs!;
}

/** The person's own stream (`GET /events`). */
export const openEvents = (client: Client): Promise<SseStream> => openStream(client, 0, { url: '/events' });

/** A named event's JSON data, or undefined for anything else. */
export function about(event: SseEvent): { tablo?: unknown; change?: unknown; seq?: unknown } | undefined {
  if (event.type === 'message') return undefined;
  try {
    return JSON.parse(event.data);
  } catch {
    return undefined;
  }
}

/** The named events of a type about a tablo. */
export const eventsAbout = (stream: SseStream, type: string, tabloId: number) =>
  stream.events.filter((e) => e.type === type && about(e)?.tablo === tabloId);

/** Whether any event on the stream concerns this tablo (its id in JSON data, or its page's URLs). */
export const mentionsTablo = (event: SseEvent, tabloId: number) =>
  about(event)?.tablo === tabloId || event.data.includes(`/tablos/${tabloId}/`) || event.data.includes(`"tablo":${tabloId}`);

/** The user ids in a presence fragment (`[data-user-id]` items). */
export const presentIds = (html: string) => [...html.matchAll(/\bdata-user-id="(\d+)"/g)].map((m) => Number(m[1]));

/** The newest `event: presence` on a discussion stream, as user ids. */
export function latestPresence(stream: SseStream): number[] | undefined {
  const event = stream.events.filter((e) => e.type === 'presence').at(-1);
  return event ? presentIds(event.data) : undefined;
}

/** `#presence` of a page, as user ids. */
export function presenceOnPage(html: string): number[] {
  const list = elementById(html, 'presence');
  assert.ok(list, '#presence');
  return presentIds(list.inner);
}

/** The number /unread answers. */
export async function unreadTotal(person: Person): Promise<number> {
  const response = await person.client.request('/unread', { headers: { 'HX-Request': 'true' } });
  const text = await response.text();
  assert.equal(response.status, 200, `/unread answered ${response.status}`);
  assert.match(text, /^\d+$/, `/unread: ${text}`);
  return Number(text);
}

/** The same person, with the same session (and CSRF cookie), browsing another instance. */
export async function onInstance(instance: { url: string }, person: Person): Promise<Person> {
  const client = new Client(instance.url);
  for (const name of ['tablo.sid', 'tablo.csrf']) {
    const value = person.client.cookie(name);
    if (value) client.setCookie(name, value);
  }
  const page = await client.get('/tablos'); // and its CSRF token, bound to the shared session
  assert.equal(page.status, 200, `${person.name} is signed in on ${instance.url}`);
  return { ...person, client };
}

/** Signs the same person in again on a new client: a second browser (its own session). */
export async function secondSession(baseUrl: string, person: Person): Promise<Person> {
  const client = new Client(baseUrl);
  await client.get('/login');
  const response = await client.post('/login', { email: person.email, password: person.password });
  assert.equal(response.status, 303, `signing in again answered ${response.status}`);
  await client.get('/tablos');
  return { ...person, client };
}

/** Streams opened by a test, all closed when it ends whatever happens. */
export class Streams {
  private readonly open: SseStream[] = [];

  async add(stream: Promise<SseStream>): Promise<SseStream> {
    const s = await stream;
    this.open.push(s);
    return s;
  }

  closeAll = (): void => {
    for (const s of this.open.splice(0)) s.close();
  };
}
