import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who may use the HTTP API (`--http-token`): the token every `/api` request must carry, and the
 * warning for an API open beyond this machine without one. The UI's own files need no token:
 * they hold no data.
 */

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
const bearerOf = (header: string | undefined): string | undefined => {
  const match = /^Bearer\s+(\S+)\s*$/iu.exec(header ?? '');
  return match?.[1];
};

/** Whether two secrets are equal, in time that does not depend on where they differ. */
const sameSecret = (given: string, expected: string): boolean => {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
};

/**
 * Why a request is refused, or undefined when it may go on: a request outside `/api` always may;
 * one under it must carry the token as `Authorization: Bearer <token>`, or, on `GET /api/events`
 * alone (a browser's EventSource cannot set headers), as `?access_token=`.
 */
export const refusal = (
  req: IncomingMessage,
  url: URL,
  path: string,
  token: string,
): string | undefined => {
  if (path !== '/api' && !path.startsWith('/api/')) return undefined;
  const given =
    bearerOf(req.headers.authorization) ??
    (req.method === 'GET' && path === '/api/events'
      ? (url.searchParams.get('access_token') ?? undefined)
      : undefined);
  if (given === undefined)
    return 'this weft API needs its token: Authorization: Bearer <token> (weft serve --http-token)';
  return sameSecret(given, token) ? undefined : "the token is not this weft API's";
};

/**
 * What to warn about an HTTP API at `url` served with `token` (or none): undefined when it listens
 * on loopback or has a token, else what whoever reaches it can do.
 */
export const exposure = (
  url: string,
  token: string | undefined,
  readOnly: boolean,
): string | undefined =>
  token !== undefined || isLoopback(url)
    ? undefined
    : `the HTTP API on ${url} has no token: whoever reaches it can ${readOnly ? 'read every run' : 'start, signal and cancel runs'} (--http-token, WEFT_HTTP_TOKEN)`;

/** Whether a server's `http://host:port` listens on this machine only (127.0.0.0/8, ::1, localhost). */
const isLoopback = (url: string): boolean => {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/gu, '');
  } catch {
    return false;
  }
  return host === 'localhost' || host === '::1' || /^127\./u.test(host);
};
