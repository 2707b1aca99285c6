import { createHash, randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { RawBuilder, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../db/database.ts';
import type { Tables } from '../db/schema.ts';
import { Broker, type ReadPosition, type SessionStreamOwner, type StreamOwner, type TokenStreamOwner } from './broker.ts';
import type { RealtimeBus } from './bus.ts';
import type { CloseReason, TabloChange } from './events.ts';
import { type ChangeEvent, type LiveRules, LocalFanout, type StreamScope } from './fanout.ts';
import { MemoryBus } from './memory-bus.ts';
import { createRealtimeMetrics, type RealtimeMetrics } from './metrics.ts';
import { PostgresBus } from './postgres-bus.ts';
import { PresenceStore } from './presence-store.ts';
import type { StreamFormat } from './sse.ts';
import { DiscussionStream, EventStream, type MessageSource, responseSink, type StreamHooks, writeTogether } from './stream.ts';

export type LiveOptions = {
  db: Database;
  databaseUrl: string;
  bus: 'memory' | 'postgres';
  keepAliveMs: number;
  /** Open streams one person may hold on this instance; 0 = no cap. */
  maxStreamsPerUser: number;
  /** How often every open stream's session and membership are read again. */
  accessCheckMs?: number;
  /** With the Postgres bus: how old a presence row may be before it no longer counts (a crashed instance's). */
  presenceFreshMs?: number;
  logger: Logger;
  registry: Registry;
  rules: LiveRules;
  /**
   * Told of every revocation heard, on this instance or from another, once its streams are
   * closed: what remembers who may do what (AccessCache) forgets it.
   */
  accessEnded?: (scope: StreamScope) => void;
};

/** How often open streams' sessions are checked: a session deleted or expired in the store ends its streams within this (plus a query). */
const ACCESS_CHECK_MS = 5_000;

/** A session named without its id (logs, metrics and bus payloads): a short hash. */
export function sessionKey(sessionId: string): string {
  // Not digest('hex').slice(): an open stream's owner would keep the whole digest behind the slice.
  return createHash('sha256').update(sessionId).digest().toString('hex', 0, 8);
}

export function streamOwner(userId: number, sessionId: string, tabloId?: number, visibility?: { hidden: boolean }): SessionStreamOwner {
  return { userId, sessionId, sessionKey: sessionKey(sessionId), tabloId, ...(visibility?.hidden ? { hidden: true } : {}) };
}

/** A program's stream of a tablo, held by an API token (named by its key). */
export function tokenStreamOwner(userId: number, tokenKey: string, tabloId: number): TokenStreamOwner {
  return { userId, tokenKey, tabloId };
}

/** Why a stream that never started did not, as the status it answers. */
const UNSTARTED_STATUS: Partial<Record<CloseReason, { status: number; text: string }>> = {
  'signed-out': { status: 401, text: 'Sign in to continue' },
  'access-ended': { status: 404, text: 'Not found' },
  error: { status: 503, text: 'Tablo cannot reach its database; retrying' },
  shutdown: { status: 503, text: 'Tablo is restarting' },
};

/**
 * The realtime engine, as the features see it: announce what changed (after commit), end streams,
 * open streams. Behind it: the broker (who is subscribed here), the fan-out (what reaches them),
 * the bus (in-process, or Postgres LISTEN/NOTIFY across instances) and presence. It knows
 * nothing of tablos' rules beyond the LiveRules it is given.
 */
export class Live {
  readonly broker: Broker;
  readonly metrics: RealtimeMetrics;
  private readonly fanout: LocalFanout;
  private readonly bus: RealtimeBus;
  private readonly accessCheck: NodeJS.Timeout;
  /**
   * Tests only (the app never sets it): awaited by a discussion stream between the route's access
   * check and its subscription, so a test can land a removal or a sign-out exactly in that gap.
   */
  beforeSubscribe: ((owner: StreamOwner) => Promise<void>) | undefined;
  /** Changes announced this turn, published together on the next (see changed). */
  private changes: ChangeEvent[] = [];

  private constructor(private readonly options: LiveOptions) {
    const { db, logger, rules } = options;
    // The broker tells the bus when the people on a discussion change; the bus is made below.
    let bus: RealtimeBus | undefined;
    this.broker = new Broker({ keepAliveMs: options.keepAliveMs, onPresenceChange: (tabloId) => bus?.presenceChanged(tabloId) });
    this.metrics = createRealtimeMetrics(options.registry, this.broker);
    if (options.bus === 'postgres') {
      const instanceId = randomUUID();
      let postgres: PostgresBus | undefined;
      const presence = new PresenceStore(
        db,
        instanceId,
        logger,
        (tabloId) => this.broker.presentIn(tabloId),
        (tabloId) => postgres?.presenceWritten(tabloId),
        options.presenceFreshMs,
      );
      this.fanout = new LocalFanout(this.broker, rules, (tabloId) => presence.whoIsHere(tabloId), logger, this.metrics, options.accessEnded);
      bus = postgres = new PostgresBus(instanceId, options.databaseUrl, db, this.fanout, presence, rules, logger, this.metrics);
    } else {
      this.fanout = new LocalFanout(this.broker, rules, async (tabloId) => this.broker.presentIn(tabloId), logger, this.metrics, options.accessEnded);
      bus = new MemoryBus(this.fanout, db);
    }
    this.bus = bus;
    // A session deleted or expired in the store (an operator, the store's pruning) announces
    // nothing: every open stream's session and membership are read again now and then.
    this.accessCheck = setInterval(() => void this.recheckAccess(), options.accessCheckMs ?? ACCESS_CHECK_MS);
    this.accessCheck.unref();
  }

  /** Resolves once it can feed streams (with the Postgres bus: once listening). */
  static async start(options: LiveOptions): Promise<Live> {
    const live = new Live(options);
    if (live.bus instanceof PostgresBus) await live.bus.start();
    return live;
  }

  /** A CTE announcing stored changes to other instances from inside the storing statement (see RealtimeBus). */
  get announceInserted(): RawBuilder<unknown> | undefined {
    return this.bus.announceInserted;
  }

  /**
   * A change event, after its transaction committed. Never waits for a socket: it goes out on the
   * next turn of the event loop (the poster's answer first), with every other change of this turn,
   * so that a burst (a group commit's posts) reaches each reader in one write.
   */
  changed(event: ChangeEvent): void {
    if (this.changes.push(event) === 1) setImmediate(() => this.publishChanges());
  }

  private publishChanges(): void {
    const events = this.changes;
    this.changes = [];
    if (events.length === 1) return this.bus.changed(events[0]!);
    writeTogether(() => {
      for (const event of events) this.bus.changed(event);
    });
  }

  /** A tablo's members, title or existence changed: its members' pages re-read (and `alsoTell`, who just lost it). */
  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[] = []): void {
    this.bus.tabloChanged(tabloId, change, alsoTell);
  }

  /** A tablo's invitations changed: the people they name (the invited, the owner) re-read their pages. */
  invitationsChanged(tabloId: number, people: number[]): void {
    if (people.length) this.bus.invitationsChanged(tabloId, people);
  }

  readAdvanced(positions: ReadPosition[]): void {
    if (positions.length) this.bus.readAdvanced(positions);
  }

  /** A session ended: its streams close, on every instance. */
  sessionEnded(sessionId: string, reason: CloseReason = 'signed-out'): void {
    this.bus.closeStreams({ sessionKey: sessionKey(sessionId) }, reason);
  }

  closeStreams(scope: StreamScope, reason: CloseReason): void {
    this.bus.closeStreams(scope, reason);
  }

  /** Runs `change` in a transaction; once it commits, the streams in `scope` end everywhere (see RealtimeBus). */
  revokeWith<T>(scope: StreamScope, reason: CloseReason, change: (trx: Transaction<Tables>) => Promise<T>): Promise<T> {
    return this.bus.revokeWith(scope, reason, change);
  }

  /** The people with the tablo's discussion open in a visible tab, on every instance. */
  whoIsHere(tabloId: number): Promise<number[]> {
    return this.fanout.whoIsHere(tabloId);
  }

  /** The presence list as the discussion shows it, counting `alsoHere` (a reader whose stream is about to open). */
  renderPresence(tabloId: number, alsoHere?: number): Promise<string> {
    return this.fanout.renderPresence(tabloId, alsoHere);
  }

  /** What open discussions have shown their readers since last asked. */
  readPositions(): ReadPosition[] {
    return this.broker.readPositions();
  }

  get openStreams(): number {
    return this.broker.openStreams;
  }

  /**
   * A discussion stream: subscribed, then checked (database, session, access), then headers and
   * the backfill. One that cannot start answers a status instead: 503 when the database does not
   * answer, 401 for an ended session, 404 for ended access, 429 over the person's stream cap.
   */
  async openDiscussionStream(
    req: Request,
    res: Response,
    stream: { owner: StreamOwner; cursor: number; source: MessageSource; lastRead?: StreamHooks['lastRead']; format?: StreamFormat },
  ): Promise<void> {
    const format = stream.format ?? 'html';
    if (this.overCap(res, stream.owner, format)) return;
    const hooks = stream.lastRead ? this.observerWith(stream.lastRead) : this.observer;
    const opened = new DiscussionStream(stream.owner, responseSink(res), stream.source, hooks, format);
    req.on('close', () => opened.close('client'));
    await this.beforeSubscribe?.(stream.owner);
    await opened.open(this.broker, stream.cursor);
    this.answerUnstarted(res, opened, format);
    if (!opened.closedAs) {
      this.options.logger.info({ stream: format === 'json' ? 'api' : 'discussion', ...loggable(stream.owner), cursor: stream.cursor }, 'stream opened');
      forgetRequestChain(req, res);
    }
  }

  /** A person's own stream, for pages other than a discussion: named events about their tablos. */
  openPersonalStream(req: Request, res: Response, owner: StreamOwner): void {
    if (this.overCap(res, owner)) return;
    const opened = new EventStream(owner, responseSink(res), this.observer);
    req.on('close', () => opened.close('client'));
    opened.open(this.broker);
    this.options.logger.info({ stream: 'personal', ...loggable(owner) }, 'stream opened');
    forgetRequestChain(req, res);
  }

  /** Ends every stream with a request to come back soon, and every stream that opens from now on. */
  shutdown(): void {
    this.broker.shutdown();
  }

  async stop(): Promise<void> {
    clearInterval(this.accessCheck);
    this.broker.stop();
    await this.bus.stop();
  }

  private async recheckAccess(): Promise<void> {
    try {
      await this.fanout.closeRevokedStreams();
    } catch (error) {
      // The database is away: streams stay open (an outage is not a sign-out) and are judged next time.
      this.options.logger.warn({ err: error }, 'rechecking open streams failed');
    }
  }

  private overCap(res: Response, owner: StreamOwner, format: StreamFormat = 'html'): boolean {
    const cap = this.options.maxStreamsPerUser;
    if (cap === 0 || this.broker.streamsOf(owner.userId) < cap) return false;
    res.status(429).set('Retry-After', '30');
    answerText(res, format, 'Too many open streams: close some');
    return true;
  }

  private answerUnstarted(res: Response, stream: EventStream, format: StreamFormat): void {
    const reason = stream.closedAs;
    if (!reason || res.headersSent || res.destroyed) return;
    const answer = UNSTARTED_STATUS[reason] ?? { status: 503, text: 'Try again' };
    if (answer.status === 503) res.set('Retry-After', '5');
    res.status(answer.status);
    answerText(res, format, format === 'json' && reason === 'signed-out' ? 'This token is not valid' : answer.text);
  }

  private readonly observersWith = new WeakMap<NonNullable<StreamHooks['lastRead']>, StreamHooks>();

  /** The observer and a route's lastRead, made once per route rather than once per stream. */
  private observerWith(lastRead: NonNullable<StreamHooks['lastRead']>): StreamHooks {
    let hooks = this.observersWith.get(lastRead);
    if (!hooks) this.observersWith.set(lastRead, (hooks = { ...this.observer, lastRead }));
    return hooks;
  }

  /** Metrics and logs for every stream's life. */
  private readonly observer: StreamHooks = {
    written: () => this.metrics.messagesWritten.inc(),
    named: () => this.metrics.namedWritten.inc(),
    closed: (owner, reason) => {
      this.metrics.streamsClosed.labels(reason).inc();
      if (reason === 'slow-reader') {
        this.metrics.slowReaders.inc();
        this.options.logger.warn({ ...loggable(owner), reason }, 'slow reader disconnected');
      } else {
        this.options.logger.info({ ...loggable(owner), reason }, 'stream closed');
      }
    },
  };
}

/**
 * A stream lives for hours, thousands at once, and its request and response live as long: what
 * the route's middleware left on them (the router's continuation, the signed-in person and the
 * tablo in locals, the parameters) is let go once the stream is open. It holds what it needs.
 */
function forgetRequestChain(req: Request, res: Response): void {
  req.next = undefined;
  req.params = {};
  res.locals = {};
}

/** What a log line may say of a stream's owner: never the session id. */
function loggable(owner: StreamOwner) {
  return {
    userId: owner.userId,
    tabloId: owner.tabloId,
    ...(owner.tokenKey ? { token: owner.tokenKey } : { session: owner.sessionKey }),
    ...(owner.hidden ? { hidden: true } : {}),
  };
}

/** A stream's refusal: a line of text for pages, `{"error"}` for programs. */
function answerText(res: Response, format: StreamFormat, text: string): void {
  if (format === 'json') res.json({ error: text });
  else res.type('text/plain').send(text);
}
