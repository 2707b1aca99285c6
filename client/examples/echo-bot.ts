// A webhook bot: Tablo POSTs each message that mentions it; it answers with a reply to post.
// WEBHOOK_SECRET=whsec_… PORT=8787 npx tsx client/examples/echo-bot.ts
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secret = Buffer.from((process.env.WEBHOOK_SECRET ?? '').replace(/^whsec_/, ''), 'base64');
const TOLERANCE_SECONDS = 5 * 60;

/** Standard Webhooks: v1,base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")), any of several. */
function verified(id: string, timestamp: string, body: string, signatures: string): boolean {
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((s) => {
    const given = Buffer.from(s.replace(/^v1,/, ''), 'base64');
    return s.startsWith('v1,') && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8').on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const [id, timestamp, signature] = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => String(req.headers[h] ?? ''));
    if (!verified(id!, timestamp!, body, signature!)) return res.writeHead(401).end();
    const { message } = JSON.parse(body) as { message: { author: { name: string }; body: string } };
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ body: `${message.author.name} said: ${message.body}` }));
  });
}).listen(Number(process.env.PORT ?? 8787));
