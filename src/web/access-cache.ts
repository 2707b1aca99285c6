import { LRUCache } from 'lru-cache';
import type { TokenHolder } from '../accounts/tokens.ts';
import type { CurrentUser } from '../accounts/users.ts';
import { sessionKey } from '../live/live.ts';
import type { StreamScope } from '../live/fanout.ts';
import type { Membership } from '../tablos/policy.ts';

/** A session as the store keeps it (JSON), with the person it signs in. */
type RememberedSession = { json: string; userId: number | undefined };

/**
 * What a request must know before its work — its session, its person, their membership of the
 * tablo, its API token — remembered for `ttlMs` so that a kept-alive connection posting message
 * after message costs one query a post, not four.
 *
 * Staleness is bounded twice over. Every revocation the live engine hears (sign-out, password
 * change, removal, a deleted tablo or bot, a revoked token, on this instance or another) makes
 * this forget what it covers at once (`forget`). What announces nothing (a session deleted or
 * expired in the store, a rename on another instance) is read again after `ttlMs`, the same bound
 * as the open streams' recheck (ACCESS_CHECK_MS), well inside the contract's 10 s. A load that was
 * in flight when something was forgotten is answered but not remembered: it may predate the
 * revocation. Only positive answers are remembered; "no such session" is read every time.
 */
export class AccessCache {
  private readonly sessions: LRUCache<string, RememberedSession> | undefined;
  private readonly people: LRUCache<number, CurrentUser> | undefined;
  private readonly memberships: LRUCache<string, Membership> | undefined;
  private readonly tokens: LRUCache<string, TokenHolder> | undefined;
  /** Counts forgettings: a load that saw it change while in flight is not remembered. */
  private epoch = 0;

  /** `ttlMs` 0 remembers nothing (every request reads). */
  constructor(ttlMs: number, max = 10_000) {
    const make = <K extends {}, V extends {}>() => (ttlMs > 0 ? new LRUCache<K, V>({ max, ttl: ttlMs, ttlAutopurge: false }) : undefined);
    this.sessions = make();
    this.people = make();
    this.memberships = make();
    this.tokens = make();
  }

  /** The stored session (its JSON, as the store keeps it), by its id. */
  session(sessionId: string, load: () => Promise<RememberedSession | undefined>): Promise<RememberedSession | undefined> {
    return this.remember(this.sessions, sessionKey(sessionId), load);
  }

  person(userId: number, load: () => Promise<CurrentUser | undefined>): Promise<CurrentUser | undefined> {
    return this.remember(this.people, userId, load);
  }

  membership(userId: number, tabloId: number, load: () => Promise<Membership | undefined>): Promise<Membership | undefined> {
    return this.remember(this.memberships, `${userId}:${tabloId}`, load);
  }

  /** A bearer token's holder, by the token's SHA-256 (hex): the token itself is not kept. */
  token(hash: string, load: () => Promise<TokenHolder | undefined>): Promise<TokenHolder | undefined> {
    return this.remember(this.tokens, hash, load);
  }

  forgetSession(sessionId: string): void {
    this.forget({ sessionKey: sessionKey(sessionId) });
  }

  /** The person's name, handle or email changed here (elsewhere: within `ttlMs`). */
  forgetPerson(userId: number): void {
    this.epoch++;
    this.people?.delete(userId);
  }

  /** Whatever a revocation of this scope covers (see StreamScope). */
  forget(scope: StreamScope): void {
    this.epoch++;
    if ('sessionKey' in scope) {
      this.sessions?.delete(scope.sessionKey);
    } else if ('tokenKey' in scope) {
      dropWhere(this.tokens, (holder) => holder.tokenKey === scope.tokenKey);
    } else if ('userId' in scope) {
      dropWhere(this.memberships, (m) => m.userId === scope.userId && (scope.tabloId === undefined || m.tabloId === scope.tabloId));
      if (scope.tabloId === undefined) {
        // The whole account (a bot deleted or its token rotated): its sessions, tokens and person too.
        dropWhere(this.sessions, (s) => s.userId === scope.userId);
        dropWhere(this.tokens, (holder) => holder.user.id === scope.userId);
        this.people?.delete(scope.userId);
      }
    } else {
      dropWhere(this.memberships, (m) => m.tabloId === scope.tabloId);
    }
  }

  private async remember<K extends {}, V extends {}>(cache: LRUCache<K, V> | undefined, key: K, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const known = cache?.get(key);
    if (known !== undefined) return known;
    const epoch = this.epoch;
    const loaded = await load();
    if (loaded !== undefined && epoch === this.epoch) cache?.set(key, loaded);
    return loaded;
  }
}

function dropWhere<K extends {}, V extends {}>(cache: LRUCache<K, V> | undefined, drop: (value: V) => boolean): void {
  if (!cache) return;
  const dropped = [...cache.entries()].filter(([, value]) => drop(value)).map(([key]) => key);
  for (const key of dropped) cache.delete(key);
}
