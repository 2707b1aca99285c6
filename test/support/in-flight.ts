import net from 'node:net';

/**
 * A request held in flight over a raw socket: its headers and half its body are sent now (so the
 * server is handling it), the rest on `finish()`, which may pipeline more requests behind it on
 * the same connection. `finish()` answers everything the server sent until it closed the connection.
 */
export async function holdRequest(
  baseUrl: string,
  request: { method: string; path: string; headers: Record<string, string>; body: string },
): Promise<{ finish: (pipelined?: string) => Promise<string> }> {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect(Number(port), hostname);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const body = Buffer.from(request.body);
  const half = Math.floor(body.length / 2);
  const head = [
    `${request.method} ${request.path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    `Content-Length: ${body.length}`,
    ...Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`),
    '',
    '',
  ].join('\r\n');
  await new Promise<void>((resolve) => socket.write(Buffer.concat([Buffer.from(head), body.subarray(0, half)]), () => resolve()));
  return {
    finish: async (pipelined = '') => {
      socket.write(Buffer.concat([body.subarray(half), Buffer.from(pipelined)]));
      await closed;
      return received;
    },
  };
}

/** The status codes of the HTTP/1.1 responses in a raw byte stream, in order. */
export function statuses(raw: string): number[] {
  return [...raw.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
}
