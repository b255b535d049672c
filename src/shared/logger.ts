import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths that could carry credentials are censored even if someone logs a whole request or record.
 * Secrets are also typed (see secret.ts), so this list is the second line, not the first.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'accessToken',
  'refreshToken',
  'clientSecret',
  'key',
  '*.accessToken',
  '*.refreshToken',
  '*.clientSecret',
  '*.key',
];

interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  id?: string;
}

/**
 * Requests are logged by path only: query strings carry customer data through the gateway (and
 * some APIs take credentials there), so they never reach a log line.
 */
export function serializeRequest(req: LoggedRequest) {
  return { method: req.method, path: redactPath((req.url ?? '').split('?')[0]!), remoteAddress: req.ip };
}

/** A consent link's path is its secret: logged as `/connect/[redacted]`, whatever follows it. */
export function redactPath(path: string): string {
  return path.startsWith('/connect/') ? '/connect/[redacted]' : path;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'custody' }, serializers: { req: serializeRequest } },
    destination,
  );
}
