/**
 * AccessCache, the seam between the hot path and the live engine's revocations: what it remembers,
 * for how long, and what each revocation scope makes it forget. No database: loads are counted.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { sessionKey } from '../src/live/live.ts';
import type { Membership } from '../src/tablos/policy.ts';
import { AccessCache } from '../src/web/access-cache.ts';

const person = (id: number) => ({ id, name: `P${id}`, email: `p${id}@x.test`, handle: `p${id}` });
const membership = (userId: number, tabloId: number) => ({ userId, tabloId, ownerId: 1, role: 'member' as const });
const holder = (userId: number, tokenId: number) => ({ user: { ...person(userId), bot: true }, tokenId, tokenKey: String(tokenId) });

/** A loader that counts its calls and answers `value`. */
function loader<T>(value: T | undefined) {
  const load = async () => {
    load.calls++;
    return value;
  };
  load.calls = 0;
  return load;
}

describe('AccessCache', () => {
  it('reads once while fresh, and again once the time is up', async () => {
    const cache = new AccessCache(80);
    const load = loader(person(1));
    assert.deepEqual(await cache.person(1, load), person(1));
    assert.deepEqual(await cache.person(1, load), person(1));
    assert.equal(load.calls, 1);
    await sleep(120);
    await cache.person(1, load);
    assert.equal(load.calls, 2);
  });

  it('never remembers "no such thing": a missing session or membership is read every time', async () => {
    const cache = new AccessCache(10_000);
    const load = loader(undefined);
    assert.equal(await cache.membership(2, 3, load), undefined);
    assert.equal(await cache.membership(2, 3, load), undefined);
    assert.equal(load.calls, 2);
  });

  it('remembers nothing with a time of 0', async () => {
    const cache = new AccessCache(0);
    const load = loader(person(1));
    await cache.person(1, load);
    await cache.person(1, load);
    assert.equal(load.calls, 2);
  });

  it('forgets a session by the key its revocation carries (never the id)', async () => {
    const cache = new AccessCache(10_000);
    const load = loader({ json: '{"userId":4}', userId: 4 });
    await cache.session('sid-a', load);
    await cache.session('sid-b', load);
    cache.forget({ sessionKey: sessionKey('sid-a') });
    await cache.session('sid-a', load);
    await cache.session('sid-b', load);
    assert.equal(load.calls, 3, 'only sid-a was read again');
  });

  it('a removal forgets that membership; a deleted tablo forgets all of its memberships', async () => {
    const cache = new AccessCache(10_000);
    const loads = new Map<string, ReturnType<typeof loader<Membership>>>();
    const read = (userId: number, tabloId: number) => {
      const key = `${userId}:${tabloId}`;
      if (!loads.has(key)) loads.set(key, loader(membership(userId, tabloId)));
      return cache.membership(userId, tabloId, loads.get(key)!);
    };
    for (const [u, t] of [[1, 10], [1, 11], [2, 10]] as const) await read(u, t);
    cache.forget({ userId: 1, tabloId: 10 });
    for (const [u, t] of [[1, 10], [1, 11], [2, 10]] as const) await read(u, t);
    assert.deepEqual([...loads].map(([k, l]) => [k, l.calls]), [['1:10', 2], ['1:11', 1], ['2:10', 1]]);
    cache.forget({ tabloId: 10 });
    for (const [u, t] of [[1, 10], [1, 11], [2, 10]] as const) await read(u, t);
    assert.deepEqual([...loads].map(([k, l]) => [k, l.calls]), [['1:10', 3], ['1:11', 1], ['2:10', 2]]);
  });

  it('a revoked token is forgotten by its key; a whole account by its id (sessions, tokens, person, memberships)', async () => {
    const cache = new AccessCache(10_000);
    const token = loader(holder(5, 77));
    const other = loader(holder(6, 78));
    await cache.token('h77', token);
    await cache.token('h78', other);
    cache.forget({ tokenKey: '77' });
    await cache.token('h77', token);
    await cache.token('h78', other);
    assert.deepEqual([token.calls, other.calls], [2, 1]);

    const session = loader({ json: '{"userId":5}', userId: 5 });
    const who = loader(person(5));
    const member = loader(membership(5, 10));
    await cache.session('s5', session);
    await cache.person(5, who);
    await cache.membership(5, 10, member);
    cache.forget({ userId: 5 });
    await cache.session('s5', session);
    await cache.person(5, who);
    await cache.membership(5, 10, member);
    await cache.token('h77', token);
    assert.deepEqual([session.calls, who.calls, member.calls, token.calls], [2, 2, 2, 3]);
  });

  it('does not remember an answer read while something was forgotten: it may predate the revocation', async () => {
    const cache = new AccessCache(10_000);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const slow = async () => {
      calls++;
      await gate;
      return membership(1, 10);
    };
    const inFlight = cache.membership(1, 10, slow);
    cache.forget({ userId: 1, tabloId: 10 });
    release();
    assert.ok(await inFlight, 'the request in flight is still answered');
    await cache.membership(1, 10, slow);
    assert.equal(calls, 2, 'but the next one reads again');
  });

  it('forgetPerson forgets the person only', async () => {
    const cache = new AccessCache(10_000);
    const who = loader(person(1));
    const member = loader(membership(1, 10));
    await cache.person(1, who);
    await cache.membership(1, 10, member);
    cache.forgetPerson(1);
    await cache.person(1, who);
    await cache.membership(1, 10, member);
    assert.deepEqual([who.calls, member.calls], [2, 1]);
  });
});
