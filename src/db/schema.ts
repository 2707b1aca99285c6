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
}

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
  presence: PresenceTable;
  invitations: InvitationsTable;
  join_links: JoinLinksTable;
  api_tokens: ApiTokensTable;
  bots: BotsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type Tablo = Selectable<TablosTable>;
