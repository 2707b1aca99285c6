import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface UsersTable {
  id: Generated<number>;
  email: string;
  name: string;
  /** Unique whatever the case (an index on lower(handle)); see src/accounts/handles.ts. */
  handle: string;
  password_hash: string;
  created_at: CreatedAt;
  /** A bot account: no password anyone knows, signs in with API tokens only. */
  bot: Generated<boolean>;
}

export interface SessionsTable {
  sid: string;
  sess: unknown;
  expire: Date;
}

export interface TablosTable {
  id: Generated<number>;
  title: string;
  owner_id: number;
  /** The seq of the newest change event; the next change takes last_seq + 1 under this row's lock. */
  last_seq: Generated<number>;
  last_activity_at: ColumnType<Date, Date | string | undefined, Date | string>;
  created_at: CreatedAt;
}

export type MemberRole = 'owner' | 'member';

export interface TabloMembersTable {
  tablo_id: number;
  user_id: number;
  role: MemberRole;
  last_read_seq: Generated<number>;
  joined_at: CreatedAt;
  notification_level: Generated<NotificationLevel>;
}

/** Which messages notify a member: every one, those mentioning them (or @all), none. */
export type NotificationLevel = 'all' | 'mentions' | 'none';

export interface MessagesTable {
  id: Generated<number>;
  tablo_id: number;
  seq: number;
  author_id: number;
  body: string;
  client_token: string | null;
  created_at: CreatedAt;
  /** 1 when posted, +1 with every change (edit, deletion, reaction, a change to the message it quotes). */
  version: Generated<number>;
  edited_at: Date | null;
  /** A deleted message keeps its row and place, with an empty body. */
  deleted_at: Date | null;
  /** The message (of the same tablo) this one replies to. */
  reply_to: number | null;
  /** Its current text mentions `@all`. */
  mentions_all: Generated<boolean>;
}

/** The members a message's current text mentions by handle (the handle as typed, lower-cased). */
export interface MentionsTable {
  message_id: number;
  user_id: number;
  handle: string;
}

export type EventKind = 'created' | 'edited' | 'deleted' | 'reacted' | 'quoted';

/** A tablo's log: every change to its discussion, numbered by the tablo's seq. */
export interface TabloEventsTable {
  tablo_id: number;
  seq: number;
  message_id: number;
  kind: EventKind;
}

export interface ReactionsTable {
  message_id: number;
  user_id: number;
  emoji: string;
  created_at: CreatedAt;
}

/** A file attached to a message: its bytes are in the file store under `sha256`. */
export interface AttachmentsTable {
  id: Generated<number>;
  message_id: number;
  sha256: string;
  /** The name it was uploaded with (shown and offered for download; never trusted for its type). */
  name: string;
  /** Sniffed from the bytes; `application/octet-stream` when unknown. */
  type: string;
  size: ColumnType<string, number, never>;
  width: number | null;
  height: number | null;
  thumbnail_sha256: string | null;
  thumbnail_width: number | null;
  thumbnail_height: number | null;
  thumbnail_size: number | null;
  created_at: CreatedAt;
}

export interface PresenceTable {
  instance_id: string;
  tablo_id: number;
  user_id: number;
  seen_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A pending invitation: its row is deleted once accepted, declined or cancelled. */
export interface InvitationsTable {
  id: Generated<number>;
  tablo_id: number;
  /** Normalized (trimmed, lower-cased); may belong to no account yet. */
  email: string;
  invited_by: number;
  created_at: CreatedAt;
}

export interface JoinLinksTable {
  tablo_id: number;
  token: string;
  created_by: number;
  /** When this link was made: a replacement is a new link. */
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type OutboxStatus = 'pending' | 'done' | 'dead';

/** Side effects that leave through the outbox (src/outbox/): one row per thing to do. */
export interface OutboxTable {
  id: Generated<number>;
  kind: string;
  payload: unknown;
  run_at: ColumnType<Date, Date | string | undefined, Date | string>;
  attempts: Generated<number>;
  last_error: string | null;
  status: Generated<OutboxStatus>;
  created_at: CreatedAt;
  /** While set in the future, a worker is running the entry; once past, it is due again. */
  locked_until: Date | null;
}

export interface PushSubscriptionsTable {
  id: Generated<number>;
  user_id: number;
  endpoint: string;
  p256dh: string;
  auth: string;
  created_at: CreatedAt;
}

export interface VapidKeysTable {
  id: Generated<number>;
  public_key: string;
  private_key: string;
}

/** A personal or bot API token, kept only as its SHA-256. */
export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  token_hash: Buffer;
  created_at: CreatedAt;
  last_used_at: Date | null;
}

/** A bot account of a tablo (its user row has `bot`). */
export interface BotsTable {
  user_id: number;
  tablo_id: number;
  created_by: number;
  webhook_url: string | null;
  /** `whsec_…`: signs webhook deliveries (Standard Webhooks). */
  webhook_secret: string | null;
  created_at: CreatedAt;
}

export interface Tables {
  users: UsersTable;
  sessions: SessionsTable;
  tablos: TablosTable;
  tablo_members: TabloMembersTable;
  messages: MessagesTable;
  tablo_events: TabloEventsTable;
  reactions: ReactionsTable;
  mentions: MentionsTable;
  attachments: AttachmentsTable;
  presence: PresenceTable;
  invitations: InvitationsTable;
  join_links: JoinLinksTable;
  outbox: OutboxTable;
  push_subscriptions: PushSubscriptionsTable;
  vapid_keys: VapidKeysTable;
  api_tokens: ApiTokensTable;
  bots: BotsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type Tablo = Selectable<TablosTable>;
