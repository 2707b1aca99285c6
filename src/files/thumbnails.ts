import type { Readable } from 'node:stream';
import sharp from 'sharp';

/** The longest side of a thumbnail, in pixels. */
export const THUMBNAIL_SIZE = 480;

export type Thumbnail = { bytes: Buffer; width: number; height: number };

/**
 * A small WebP of an image and the image's own size as shown (EXIF orientation applied). The
 * thumbnail carries no metadata (sharp drops it unless asked), and is the first frame of an
 * animation. Undefined when the bytes are not an image sharp can read.
 */
export async function makeThumbnail(image: Readable): Promise<{ thumbnail: Thumbnail; width: number; height: number } | undefined> {
  const input = sharp({ failOn: 'error' });
  image.once('error', (error) => input.destroy(error));
  image.pipe(input);
  try {
    const [metadata, made] = await Promise.all([
      input.clone().metadata(),
      input
        .clone()
        .rotate()
        .resize({ width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE, fit: 'inside', withoutEnlargement: true })
        .webp({ quality: 80 })
        .toBuffer({ resolveWithObject: true }),
    ]);
    // Orientations 5–8 turn the image a quarter: its width as shown is its stored height.
    const turned = (metadata.orientation ?? 1) >= 5;
    const width = (turned ? metadata.height : metadata.width) ?? made.info.width;
    const height = (turned ? metadata.width : metadata.height) ?? made.info.height;
    return { thumbnail: { bytes: made.data, width: made.info.width, height: made.info.height }, width, height };
  } catch {
    image.destroy();
    return undefined;
  }
}
