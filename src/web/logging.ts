import { type DestinationStream, pino, type Logger } from 'pino';

/** JSON lines to stdout, or to `destination` (the tests keep them in memory to check them). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { app: 'tablo' }, redact: ['req.headers.cookie', 'req.headers.authorization'] };
  return destination ? pino(options, destination) : pino(options);
}
