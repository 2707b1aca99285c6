import anyAscii from 'any-ascii';
import { z } from 'zod';

/**
 * A handle names a person in mentions: `@ada-lovelace`. ASCII letters, digits, `_` and `-`, 1–30
 * characters, unique whatever the case; `all` is reserved (`@all` mentions every member).
 */
export const HANDLE_MAX_LENGTH = 30;
const RESERVED_HANDLES = new Set(['all']);

export function isReservedHandle(handle: string): boolean {
  return RESERVED_HANDLES.has(handle.toLowerCase());
}

/** A handle typed into a form; a leading `@` is forgiven. */
export const handleInput = z
  .string()
  .trim()
  .transform((value) => value.replace(/^@/, ''))
  .pipe(
    z
      .string()
      .min(1, 'Choose a handle.')
      .max(HANDLE_MAX_LENGTH, `Keep your handle to ${HANDLE_MAX_LENGTH} characters.`)
      .regex(/^[A-Za-z0-9_-]+$/, 'Use only letters, digits, _ and - in your handle (no spaces or accents).')
      .refine((handle) => !isReservedHandle(handle), '@all is reserved: it mentions everyone in a tablo.'),
  );

/**
 * The handle a name (or an email's local part) suggests: transliterated to ASCII, lower-cased,
 * spaces and punctuation turned into `-`. Undefined when nothing usable is left.
 */
export function handleFrom(text: string): string | undefined {
  const handle = anyAscii(text)
    .toLowerCase()
    .replace(/['’`]/g, '') // O'Brien → obrien, not o-brien
    .replace(/[^a-z0-9_]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, HANDLE_MAX_LENGTH)
    .replace(/[-_]+$/, '');
  return handle || undefined;
}

/** The handle a new person starts from: from their name, else their email, else "user". */
export function suggestedHandle(name: string, email: string): string {
  const localPart = email.split('@')[0]!.split('+')[0]!;
  return handleFrom(name) ?? handleFrom(localPart) ?? 'user';
}

/**
 * The handles to try, in order, for a suggestion: `ada`, `ada2`, `ada3`… (shortened to fit when
 * the number would make it too long), never a reserved one.
 */
export function* handleCandidates(base: string): Generator<string> {
  if (!isReservedHandle(base)) yield base;
  for (let n = 2; ; n++) {
    const suffix = String(n);
    yield base.slice(0, HANDLE_MAX_LENGTH - suffix.length) + suffix;
  }
}
