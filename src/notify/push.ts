import webpush from 'web-push';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { isPublicUrl } from '../web/urls.ts';

export type VapidKeys = { publicKey: string; privateKey: string; subject: string };

/** Where push services may reach the operator; any mailto: or https: URL will do. */
export const DEFAULT_VAPID_SUBJECT = 'mailto:tablo@localhost';

/**
 * The VAPID keys every instance signs with: the environment's when set, otherwise a pair
 * generated once and kept in the database. Two instances starting together may both generate
 * one; the first insert wins and both read it back.
 */
export async function loadVapidKeys(
  db: Database,
  env: { publicKey: string | undefined; privateKey: string | undefined; subject: string | undefined },
): Promise<VapidKeys> {
  const subject = env.subject ?? DEFAULT_VAPID_SUBJECT;
  if (env.publicKey && env.privateKey) return { publicKey: env.publicKey, privateKey: env.privateKey, subject };
  const fresh = webpush.generateVAPIDKeys();
  await db
    .insertInto('vapid_keys')
    .values({ id: 1, public_key: fresh.publicKey, private_key: fresh.privateKey })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  const kept = await db.selectFrom('vapid_keys').select(['public_key', 'private_key']).where('id', '=', 1).executeTakeFirstOrThrow();
  return { publicKey: kept.public_key, privateKey: kept.private_key, subject };
}

const base64url = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url')
    .refine((s) => Buffer.from(s, 'base64url').length === bytes, `must be ${bytes} bytes`);

/** A browser's PushSubscription, as `JSON.stringify(subscription)` gives it. */
export const pushSubscription = z.object({
  endpoint: z.string().url().max(2048),
  expirationTime: z.number().nullable().optional(),
  keys: z.object({
    // An uncompressed P-256 public key, and the 16-byte authentication secret (RFC 8291).
    p256dh: base64url(65).refine((s) => Buffer.from(s, 'base64url')[0] === 4, 'must be an uncompressed P-256 key'),
    auth: base64url(16),
  }),
});
export type PushSubscriptionJson = z.infer<typeof pushSubscription>;

/**
 * A browser subscribes the signed-in person. Its endpoint must be https, and public unless
 * `allowPrivate`. The same endpoint again replaces the keys (and the person: a browser that
 * another person signed in to now notifies them).
 */
export async function subscribe(
  db: Database,
  userId: number,
  input: unknown,
  options: { allowPrivate: boolean },
): Promise<{ id: number } | { error: string }> {
  const parsed = pushSubscription.safeParse(input);
  if (!parsed.success) return { error: `Not a push subscription: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}` };
  const { endpoint, keys } = parsed.data;
  if (!endpoint.startsWith('https://')) return { error: 'A push endpoint must be an https URL.' };
  if (!options.allowPrivate && !(await isPublicUrl(endpoint))) return { error: 'A push endpoint must be on the public internet.' };
  const row = await db
    .insertInto('push_subscriptions')
    .values({ user_id: userId, endpoint, p256dh: keys.p256dh, auth: keys.auth })
    .onConflict((oc) => oc.column('endpoint').doUpdateSet({ user_id: userId, p256dh: keys.p256dh, auth: keys.auth }))
    .returning('id')
    .executeTakeFirstOrThrow();
  return row;
}

export async function removeSubscription(db: Database, id: number): Promise<void> {
  await db.deleteFrom('push_subscriptions').where('id', '=', id).execute();
}

/** How long a push service keeps a notification for a browser that is offline. */
const TTL_SECONDS = 24 * 60 * 60;
/** A push service that has not answered within this is tried again later. */
const SEND_TIMEOUT_MS = 10_000;

/** Sends one encrypted (aes128gcm), VAPID-signed push. `gone`: the subscription no longer exists (404/410). */
export async function sendPush(
  keys: VapidKeys,
  subscription: { endpoint: string; p256dh: string; auth: string },
  payload: string,
): Promise<'sent' | 'gone'> {
  try {
    await webpush.sendNotification({ endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } }, payload, {
      vapidDetails: keys,
      TTL: TTL_SECONDS,
      timeout: SEND_TIMEOUT_MS,
      contentEncoding: 'aes128gcm',
    });
    return 'sent';
  } catch (error) {
    if (error instanceof webpush.WebPushError && (error.statusCode === 404 || error.statusCode === 410)) return 'gone';
    if (error instanceof webpush.WebPushError) throw new Error(`push service answered ${error.statusCode}`);
    throw error;
  }
}
