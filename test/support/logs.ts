/** One JSON log line as pino writes it. */
export type LogLine = { level: number; msg?: string; err?: { message?: string; type?: string }; raw?: string; [field: string]: unknown };

const WARN = 40;
const ERROR = 50;

/**
 * A server's log lines at `warn` and above, kept in memory. A line counts as an error when it is
 * at `error` or `fatal`, or when it carries a caught error (`err`): the realtime paths log what
 * they survive (a failed notify, presence write, catch-up, heartbeat) as warnings with the error.
 * A test that expects such a line says so (`expect(/pattern/)`, matched against the raw JSON
 * line); any other one fails: the test during which it was logged (test/support/app.ts), or the
 * e2e server's stop (e2e/support/server.ts).
 */
export class CapturedLogs {
  readonly lines: LogLine[] = [];
  private readonly expected: RegExp[];
  private checked = 0;
  /** Set once the server is stopped and checked: lines after that (its database dropped under it) are not its own. */
  closed = false;

  constructor(
    readonly name: string,
    expected: RegExp[] = [],
    private readonly echo = false,
  ) {
    this.expected = [...expected];
  }

  /** What a pino destination needs. */
  write(chunk: string): void {
    if (this.closed) return;
    if (this.echo) process.stderr.write(chunk);
    for (const raw of chunk.split('\n')) {
      if (!raw.trim()) continue;
      try {
        this.lines.push(Object.assign(JSON.parse(raw) as LogLine, { raw }));
      } catch {
        this.lines.push({ level: ERROR, msg: `unparseable log line: ${raw}`, raw });
      }
    }
  }

  /** Declares error lines matching `pattern` as expected, for the rest of this server's life. */
  expect(...patterns: RegExp[]): void {
    this.expected.push(...patterns);
  }

  /** Lines whose message matches, at any level kept (`warn` and above). */
  matching(msg: string | RegExp): LogLine[] {
    return this.lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg ?? '')));
  }

  /** Errors logged since the last check that no expectation covers. */
  unexpectedErrors(): LogLine[] {
    const fresh = this.lines.slice(this.checked);
    this.checked = this.lines.length;
    return fresh.filter((l) => isError(l) && !this.expected.some((p) => p.test(l.raw ?? '')));
  }

  /** Throws, naming the lines, when an unexpected error was logged since the last check. */
  check(when: string): void {
    const errors = this.unexpectedErrors();
    if (errors.length === 0) return;
    const shown = errors
      .slice(0, 5)
      .map((l) => `  level ${l.level}: ${l.msg ?? ''}${l.err ? ` (${l.err.type}: ${l.err.message})` : ''}`)
      .join('\n');
    throw new Error(`${this.name} logged ${errors.length} unexpected error line(s) ${when}:\n${shown}`);
  }
}

export function isError(line: LogLine): boolean {
  return line.level >= ERROR || (line.level >= WARN && line.err !== undefined);
}
