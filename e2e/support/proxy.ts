import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP relay in front of a Tablo: the browser talks to `url`, every byte goes through unchanged.
 * `cut()` drops every open connection at once, as a network blip or a load balancer's restart
 * would: open streams break and the pages must reconnect by themselves.
 */
export class NetworkBlip {
  url = '';
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((client) => {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      this.sockets.add(from);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
      from.pipe(to);
    }
  });

  private constructor(private readonly targetPort: number) {}

  static async to(targetPort: number): Promise<NetworkBlip> {
    const relay = new NetworkBlip(targetPort);
    await new Promise<void>((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    relay.url = `http://127.0.0.1:${(relay.server.address() as { port: number }).port}`;
    return relay;
  }

  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
