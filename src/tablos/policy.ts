import type { RequestHandler, Response } from 'express';
import type { Database } from '../db/database.ts';
import type { MemberRole, NotificationLevel } from '../db/schema.ts';
import { HttpError, notFound } from '../web/errors.ts';
import type { AccessCache } from '../web/access-cache.ts';
import { parseId } from '../web/ids.ts';

/**
 * A person's access to a tablo, read with their membership row: their role, how far they had read
 * when the request began, and which messages notify them.
 */
export type TabloAccess = {
  tablo: { id: number; title: string; ownerId: number; lastSeq: number };
  role: MemberRole;
  lastReadSeq: number;
  notificationLevel: NotificationLevel;
};

/**
 * A membership as the routes that write need it (requireMember): whose, which tablo, which role.
 * Remembered for a few seconds (AccessCache); pages read TabloAccess afresh.
 */
export type Membership = { userId: number; tabloId: number; ownerId: number; role: MemberRole };

declare global {
  namespace Express {
    interface Locals {
      /** The signed-in person's access to the tablo of the route (requireTabloAccess). */
      access?: TabloAccess;
      /** The signed-in person's membership of the tablo of the route (requireMember). */
      membership?: Membership;
    }
  }
}

/** The tablo of the route and the signed-in person's role in it, after requireTabloAccess. */
export function tabloAccess(res: Response): TabloAccess {
  const access = res.locals.access;
  if (!access) throw notFound();
  return access;
}

/**
 * The one access rule: a person may see a tablo when they are a member of it (its owner is a
 * member with role `owner`). Everything else is as if the tablo did not exist.
 */
export async function accessTo(db: Database, userId: number, tabloId: number): Promise<TabloAccess | undefined> {
  const row = await db
    .selectFrom('tablos as t')
    .innerJoin('tablo_members as m', (join) => join.onRef('m.tablo_id', '=', 't.id').on('m.user_id', '=', userId))
    .select(['t.id', 't.title', 't.owner_id', 't.last_seq', 'm.role', 'm.last_read_seq', 'm.notification_level'])
    .where('t.id', '=', tabloId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    tablo: { id: row.id, title: row.title, ownerId: row.owner_id, lastSeq: row.last_seq },
    role: row.role,
    lastReadSeq: row.last_read_seq,
    notificationLevel: row.notification_level,
  };
}

/** The signed-in person's membership of the route's tablo, after requireMember. */
export function membershipOf(res: Response): Membership {
  const membership = res.locals.membership;
  if (!membership) throw notFound();
  return membership;
}

export function mayManage(access: TabloAccess): boolean {
  return access.role === 'owner';
}

/**
 * After requireTabloAccess: managing members, renaming and deleting are the owner's alone. A
 * member can see the tablo, so 403 reveals nothing that 404 would hide, and says what is wrong.
 */
export const requireOwner: RequestHandler = (_req, res, next) => {
  if (mayManage(tabloAccess(res))) return next();
  next(new HttpError(403, 'Only the owner can do that', 'Managing members, renaming and deleting a tablo are up to its owner.'));
};

/**
 * Every route under /tablos/:tabloId passes through here: a malformed id, a missing tablo and a
 * tablo the signed-in person may not see all answer 404. Sets res.locals.access.
 */
export function requireTabloAccess(db: Database): RequestHandler {
  return async (req, res, next) => {
    const tabloId = parseId(req.params.tabloId);
    const user = res.locals.currentUser;
    const access = tabloId && user ? await accessTo(db, user.id, tabloId) : undefined;
    if (!access) return next(notFound());
    res.locals.access = access;
    next();
  };
}

/**
 * requireTabloAccess for the routes a person hits over and over (posting): the same rule, its
 * answer remembered for a few seconds and forgotten at once when the membership ends (see
 * AccessCache). Sets res.locals.membership; `refuse` is the route's 404.
 */
export function requireMember(db: Database, cache: AccessCache, refuse: () => Error = notFound): RequestHandler {
  return async (req, res, next) => {
    const tabloId = parseId(req.params.tabloId);
    const userId = res.locals.currentUser?.id;
    const membership =
      tabloId && userId !== undefined
        ? await cache.membership(userId, tabloId, async () => {
            const access = await accessTo(db, userId, tabloId);
            return access && { userId, tabloId, ownerId: access.tablo.ownerId, role: access.role };
          })
        : undefined;
    if (!membership) return next(refuse());
    res.locals.membership = membership;
    next();
  };
}
