/**
 * When each thing (a message id, or id and version) first arrived on a stream, and a promise for
 * one still to come: the latency scripts time post→delivered with it.
 */
export class Arrivals {
  private readonly seen = new Map<string, number>();
  private readonly waiting = new Map<string, (at: number) => void>();

  arrived(key: string): void {
    if (this.seen.has(key)) return;
    const at = performance.now();
    this.seen.set(key, at);
    this.waiting.get(key)?.(at);
    this.waiting.delete(key);
  }

  when(key: string, timeoutMs = 30_000): Promise<number> {
    const at = this.seen.get(key);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      this.waiting.set(key, resolve);
      setTimeout(() => reject(new Error(`${key} never arrived`)), timeoutMs).unref();
    });
  }
}
