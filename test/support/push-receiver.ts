import { execFileSync } from 'node:child_process';
import { createECDH, createPublicKey, type ECDH, createDecipheriv, hkdfSync, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A self-signed certificate for 127.0.0.1 (openssl), and the file a Node process can trust it from (NODE_EXTRA_CA_CERTS). */
export function selfSignedCertificate(): { key: Buffer; cert: Buffer; certFile: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tablo-push-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}

export type Delivery = { path: string; headers: Record<string, string | string[] | undefined>; body: Buffer };

/**
 * A push service on 127.0.0.1 over HTTPS: records every request by path, and answers each with
 * the next status queued for its path (201 when none is queued).
 */
export class PushReceiver {
  readonly deliveries: Delivery[] = [];
  private readonly statuses = new Map<string, number[]>();
  private readonly waiting = new Set<() => void>();
  private server!: Server;
  origin = '';

  static async start(tls: { key: Buffer; cert: Buffer }): Promise<PushReceiver> {
    const receiver = new PushReceiver();
    receiver.server = createServer(tls, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const p = req.url ?? '';
        receiver.deliveries.push({ path: p, headers: req.headers, body: Buffer.concat(chunks) });
        res.statusCode = receiver.statuses.get(p)?.shift() ?? 201;
        res.end();
        for (const wake of receiver.waiting) wake();
      });
    });
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    receiver.origin = `https://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
    return receiver;
  }

  answer(p: string, ...statuses: number[]): void {
    this.statuses.set(p, [...(this.statuses.get(p) ?? []), ...statuses]);
  }

  to(p: string): Delivery[] {
    return this.deliveries.filter((d) => d.path === p);
  }

  /** Waits until `count` deliveries to the path have arrived; answers them. */
  async received(p: string, count = 1, timeoutMs = 15_000): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.to(p).length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${count} push(es) to ${p} did not arrive within ${timeoutMs} ms (${this.to(p).length} did)`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiting.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiting.add(wake);
      });
    }
    return this.to(p);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A browser's side of a push subscription: its P-256 key pair and auth secret (RFC 8291). */
export class PushBrowser {
  private readonly ecdh: ECDH = createECDH('prime256v1');
  readonly auth = randomBytes(16);
  readonly publicKey: Buffer;

  constructor(readonly endpoint: string) {
    this.publicKey = this.ecdh.generateKeys();
  }

  get path(): string {
    return new URL(this.endpoint).pathname;
  }

  /** The PushSubscription JSON a browser would give. */
  subscription() {
    return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: this.publicKey.toString('base64url'), auth: this.auth.toString('base64url') } };
  }

  /** Decrypts an `aes128gcm` body (RFC 8188 framing, RFC 8291 keys): one record, as Web Push sends. */
  decrypt(body: Buffer): string {
    const salt = body.subarray(0, 16);
    const recordSize = body.readUInt32BE(16);
    const idLength = body[20]!;
    const serverKey = body.subarray(21, 21 + idLength);
    const ciphertext = body.subarray(21 + idLength);
    if (ciphertext.length > recordSize) throw new Error('more than one record');
    const shared = this.ecdh.computeSecret(serverKey);
    const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), this.publicKey, serverKey]);
    const ikm = Buffer.from(hkdfSync('sha256', shared, this.auth, keyInfo, 32));
    const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
    const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
    const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
    // The last record ends with the delimiter 0x02, then zero padding.
    let end = padded.length - 1;
    while (end >= 0 && padded[end] === 0) end--;
    if (padded[end] !== 2) throw new Error('no last-record delimiter');
    return padded.subarray(0, end).toString('utf8');
  }
}

/**
 * Checks a VAPID `Authorization: vapid t={JWT}, k={public key}` header (RFC 8292): the key is
 * `publicKey`, the JWT is ES256-signed by it, for this audience, not expired. Answers the claims.
 */
export function verifyVapid(header: string | undefined, publicKey: string, audience: string): Record<string, unknown> {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!match) throw new Error(`not a VAPID authorization: ${header}`);
  const [, token = '', key = ''] = match;
  if (key !== publicKey) throw new Error('signed with another key');
  const [head = '', claims = '', signature = ''] = token.split('.');
  const raw = Buffer.from(key, 'base64url');
  const jwk = { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') };
  const ok = verify('sha256', Buffer.from(`${head}.${claims}`), { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  if (!ok) throw new Error('the VAPID signature does not verify');
  const parsed = JSON.parse(Buffer.from(claims, 'base64url').toString()) as Record<string, unknown>;
  if (parsed.aud !== audience) throw new Error(`audience ${String(parsed.aud)}`);
  if (typeof parsed.exp !== 'number' || parsed.exp * 1000 < Date.now()) throw new Error('expired');
  return parsed;
}
