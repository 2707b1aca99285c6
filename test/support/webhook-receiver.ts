import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A delivery as the receiver got it. */
export type Received = { path: string; headers: IncomingMessage['headers']; body: string; at: number };

/** How the receiver answers one request: a status (and body, content type), or `hold` (never answers). */
export type Answer = { status: number; body?: string; type?: string } | 'hold';

/**
 * A webhook receiver on 127.0.0.1 (node:http). Each path answers from its plan, one answer per
 * request, the last one repeated; with no plan, 204.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  private readonly plans = new Map<string, Answer[]>();
  private readonly held = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((req, res) => receiver!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new WebhookReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return receiver;
  }

  plan(path: string, answers: Answer[]): void {
    this.plans.set(path, [...answers]);
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const plan = this.plans.get(path) ?? [];
      const answer = (plan.length > 1 ? plan.shift() : plan[0]) ?? { status: 204 };
      if (answer === 'hold') {
        this.held.add(res);
        return;
      }
      res.writeHead(answer.status, answer.type ? { 'content-type': answer.type } : {});
      res.end(answer.body ?? '');
    });
  }
}

/**
 * Checks a delivery's Standard Webhooks signature, written here from the spec (not with the
 * library Tablo signs with): HMAC-SHA256 over `${id}.${timestamp}.${body}`, keyed with the
 * base64-decoded secret after `whsec_`, answered as `v1,` + base64 (among space-separated ones).
 */
export function signatureIsValid(secret: string, delivery: Received): boolean {
  const id = String(delivery.headers['webhook-id'] ?? '');
  const timestamp = String(delivery.headers['webhook-timestamp'] ?? '');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = Buffer.from(`v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${delivery.body}`).digest('base64')}`);
  return String(delivery.headers['webhook-signature'] ?? '')
    .split(' ')
    .some((given) => given.length === expected.length && timingSafeEqual(Buffer.from(given), expected));
}
