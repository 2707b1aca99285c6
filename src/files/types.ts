import { fileTypeFromBuffer } from 'file-type';

/** How many first bytes are read to tell a file's type. */
export const SNIFFED_BYTES = 64 * 1024;

/** Images that get a thumbnail and a lightbox. */
const PREVIEWED_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
/** Videos that play inline. */
const PLAYED_VIDEOS = new Set(['video/mp4', 'video/webm']);
/** What a browser may show in place; everything else is downloaded. */
const SHOWN_INLINE = new Set([...PREVIEWED_IMAGES, ...PLAYED_VIDEOS, 'application/pdf']);

export const UNKNOWN_TYPE = 'application/octet-stream';

/**
 * A file's type, from its first bytes: never from the browser's word or the name. Anything a
 * browser could run as a document (HTML, XML, SVG, script) or that is not recognised is plain bytes.
 */
export async function sniffType(head: Uint8Array): Promise<string> {
  const found = await fileTypeFromBuffer(head);
  if (!found || /html|xml|svg|javascript|ecmascript/i.test(found.mime)) return UNKNOWN_TYPE;
  return found.mime;
}

export const isPreviewedImage = (type: string): boolean => PREVIEWED_IMAGES.has(type);
export const isPlayedVideo = (type: string): boolean => PLAYED_VIDEOS.has(type);
export const isShownInline = (type: string): boolean => SHOWN_INLINE.has(type);

/** A file name as shown and offered for download: no folders, no control characters, 1–255 characters. */
export function cleanFileName(raw: string | undefined, type: string): string {
  // Browsers send a name's `"`, CR and LF as %22, %0D, %0A in a multipart header.
  const decoded = (raw ?? '').replace(/%22/gi, '"').replace(/%0D|%0A/gi, ' ');
  const base = decoded.split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  const characters = [...cleaned];
  if (characters.length === 0) return type.startsWith('image/') ? `image.${type.slice(6).replace('jpeg', 'jpg')}` : 'file';
  return characters.length > 255 ? characters.slice(characters.length - 255).join('') : cleaned;
}

/** A size for people: 1.2 MB, 340 KB, 12 bytes. */
export function shownSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? '' : 's'}`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MB`;
}
