import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

/**
 * JSON lines, except on a terminal outside production, where people read them: one readable line
 * each. A destination may be given (tests capture what is logged).
 */
export function createLogger(
  level: string,
  options: { production?: boolean; destination?: DestinationStream } = {},
): Logger {
  const settings = {
    level,
    base: { app: 'tablo' },
    // Cookies carry the session id; Set-Cookie too when a session starts.
    redact: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'],
  };
  if (options.destination) return pino(settings, options.destination);
  if (process.stdout.isTTY && !options.production) {
    return pino(settings, PinoPretty({ colorize: true, sync: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,app' }));
  }
  return pino(settings);
}

