import { lookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { isPublicAddress } from '../web/urls.ts';

/** How long a receiver has to answer a delivery. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** How much of an answer is read (a reply is at most 5,000 characters; JSON wraps it). */
const MAX_ANSWER_BYTES = 64 * 1024;

export type WebhookAnswer = { status: number; contentType: string; body: string };

/** A delivery that must not happen: the target is not a public address. */
export class RefusedTarget extends Error {}

/**
 * POSTs a signed delivery. The host is resolved once, every address it has is checked (unless
 * private ones are allowed), and the connection goes to the checked address — so a DNS answer
 * that changes between the check and the connection (rebinding) cannot reach a private one.
 * Answers the receiver's answer, whatever its status; throws on a network error or the timeout.
 */
export async function sendWebhook(
  target: string,
  headers: Record<string, string>,
  body: string,
  options: { allowPrivateUrls: boolean; timeoutMs?: number },
): Promise<WebhookAnswer> {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RefusedTarget(`refused: ${url.protocol} is not http(s)`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true, verbatim: true });
  const chosen = addresses[0];
  if (!chosen) throw new Error(`${host} does not resolve`);
  if (!options.allowPrivateUrls) {
    const unsafe = addresses.find((a) => !isPublicAddress(a.address));
    if (unsafe) throw new RefusedTarget(`refused: ${host} resolves to ${unsafe.address}, not a public address (ALLOW_PRIVATE_URLS is false)`);
  }
  // Only the addresses checked above; with several (IPv6 and IPv4), Node tries them in turn.
  const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, addresses.map((a) => ({ address: a.address, family: a.family })));
    else callback(null, chosen.address, chosen.family);
  };
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<WebhookAnswer>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        lookup: pinned,
        agent: false,
        signal: AbortSignal.timeout(options.timeoutMs ?? WEBHOOK_TIMEOUT_MS),
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Tablo-Webhooks' },
      },
      (res) => readAnswer(res).then(resolve, reject),
    );
    req.once('error', (error) => reject(error.name === 'AbortError' || error.name === 'TimeoutError' ? new Error(`no answer within ${(options.timeoutMs ?? WEBHOOK_TIMEOUT_MS) / 1000} s`) : error));
    req.end(body);
  });
}

async function readAnswer(res: IncomingMessage): Promise<WebhookAnswer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      res.destroy();
      break;
    }
    chunks.push(chunk);
  }
  return { status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') };
}
