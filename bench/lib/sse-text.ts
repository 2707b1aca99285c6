/**
 * The few-streams SSE client of the latency scripts and the warm-up: `fetch`, then each frame
 * (the text up to a blank line) handed over as a string. For thousands of streams the subscriber
 * workers use bench/lib/sse-reader.ts instead, which copies nothing.
 */

/** Opens the stream; answers once it is open (200), then calls `onFrame` for each frame until `signal` aborts. */
export async function readFrames(url: URL, headers: Record<string, string>, signal: AbortSignal, onFrame: (frame: string) => void): Promise<void> {
  const response = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal });
  if (response.status !== 200 || !response.body) throw new Error(`${url.pathname} answered ${response.status}`);
  const body = response.body;
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          onFrame(frame);
        }
      }
    } catch {
      // aborted at the end
    }
  })();
}
