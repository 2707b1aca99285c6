import type { RawBuilder } from 'kysely';
import type { Database } from '../db/database.ts';
import { type Message, type NewMessage, storeMessages } from './messages.ts';

/** More posts than this wait for the next statement: a statement's size stays bounded. */
export const MAX_BATCH = 100;

type Stored = { message: Message; created: boolean };
type Waiting = { post: NewMessage; resolve: (stored: Stored) => void; reject: (error: unknown) => void };

/**
 * Group commit per tablo. While one statement stores posts to a tablo, later posts to it wait;
 * when it returns, all of them (up to MAX_BATCH) go in the next statement together, numbered in
 * the order they arrived, committed once. A post alone goes at once: nothing waits on a timer.
 * Each post is answered on its own, after its commit (acknowledged = durable). Instances that
 * each have a queue contend only on the tablo row lock, as single posts do.
 */
export class PostQueue {
  /** Per tablo with a statement in flight: the posts waiting for the next one. */
  private readonly waiting = new Map<number, Waiting[]>();

  constructor(private readonly db: Database) {}

  store(post: NewMessage, announce: RawBuilder<unknown> | undefined): Promise<Stored> {
    return new Promise<Stored>((resolve, reject) => {
      const entry = { post, resolve, reject };
      const queue = this.waiting.get(post.tabloId);
      if (queue) {
        queue.push(entry);
        return;
      }
      this.waiting.set(post.tabloId, []);
      void this.run(post.tabloId, [entry], announce);
    });
  }

  private async run(tabloId: number, batch: Waiting[], announce: RawBuilder<unknown> | undefined): Promise<void> {
    try {
      const outcomes = await storeMessages(
        this.db,
        batch.map((w) => w.post),
        announce,
      );
      // In seq order: the poster's answers, then their fan-outs, go out in the order of the log.
      outcomes.forEach((outcome, i) => (outcome.status === 'fulfilled' ? batch[i]!.resolve(outcome.value) : batch[i]!.reject(outcome.reason)));
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
    const queue = this.waiting.get(tabloId) ?? [];
    if (queue.length === 0) {
      this.waiting.delete(tabloId);
      return;
    }
    const next = queue.splice(0, MAX_BATCH);
    void this.run(tabloId, next, announce);
  }
}

const queues = new WeakMap<Database, PostQueue>();

/** The queue of posts stored through this database handle (one per process and pool). */
export function postQueueOf(db: Database): PostQueue {
  let queue = queues.get(db);
  if (!queue) queues.set(db, (queue = new PostQueue(db)));
  return queue;
}
