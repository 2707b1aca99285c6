/**
 * Every named event a stream carries, in one list. Change events (a message created, edited,
 * deleted…) are unnamed — htmx swaps them — and carry `id: {seq}`; these are named, so htmx only
 * turns them into DOM events, and carry identifiers, never content (presence is the one rendered
 * exception: a list of who is here, the same for everyone on the discussion).
 */
export const NAMED_EVENTS = [
  /** Something was posted in a tablo (`{tablo, seq}`): lists and counts re-read. */
  'activity',
  /** A tablo's members changed (`{tablo, change}`). */
  'members',
  /** A tablo was renamed or deleted (`{tablo, change}`). */
  'tablo',
  /** Who is online in a tablo changed (`{tablo}`), for pages other than its discussion. */
  'online',
  /** The person read further somewhere (`{tablo}`). */
  'read',
  /** An invitation to a tablo (`{tablo}`) was made, answered or taken back: told to the people it names. */
  'invitations',
  /** Who is here, rendered: the discussion's presence list. */
  'presence',
  /** More than a stream would replay: reload, then continue live (carries `id:`). */
  'resync',
  /** Farewells: why a stream ended. */
  'signed-out',
  'access-ended',
  'server-restarting',
] as const;

export type NamedEvent = (typeof NAMED_EVENTS)[number];

/**
 * Why a stream ended. `session-renewed`: the session goes on under a new id (a password change);
 * the stream just ends and its page reconnects with the new cookie.
 */
export type CloseReason = 'client' | 'signed-out' | 'session-renewed' | 'access-ended' | 'shutdown' | 'slow-reader' | 'error';

/** What changed about a tablo, for the people who can see it. */
export type TabloChange = 'members' | 'renamed' | 'deleted';
