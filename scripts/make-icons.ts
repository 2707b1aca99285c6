// Draws the app icons (static/icon-192.png, static/icon-512.png) from the favicon's shapes: a
// green rounded square with three white bars. Run once: `npx tsx scripts/make-icons.ts`.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { staticDir } from '../src/paths.ts';

function png(size: number): Buffer {
  const unit = size / 32;
  const inside = (x: number, y: number, [x0, y0, w, h]: number[]) => x >= x0! * unit && x < (x0! + w!) * unit && y >= y0! * unit && y < (y0! + h!) * unit;
  const bars = [[8, 9, 16, 3], [8, 15, 16, 3], [8, 21, 10, 3]];
  const radius = 7 * unit;
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 4); // filter byte 0, then RGBA
    for (let x = 0; x < size; x++) {
      const cx = Math.min(Math.max(x + 0.5, radius), size - radius);
      const cy = Math.min(Math.max(y + 0.5, radius), size - radius);
      const outside = Math.hypot(x + 0.5 - cx, y + 0.5 - cy) > radius;
      const white = bars.some((b) => inside(x, y, b));
      const [r, g, b, a] = outside ? [0, 0, 0, 0] : white ? [255, 255, 255, 255] : [0x2f, 0x6f, 0x5e, 255];
      row.set([r!, g!, b!, a!], 1 + x * 4);
    }
    rows.push(row);
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

for (const size of [192, 512]) writeFileSync(path.join(staticDir, `icon-${size}.png`), png(size));
