import { isRecord } from './diagnostics.ts';

/**
 * A step's `onError`, read one way everywhere (validation, plan, machine): either one route for
 * every error (`"fail"`, `"continue"` or a step id) or a map from error code to route, with
 * `"default"` for the codes it does not name (`"fail"` when it has no default). Pure.
 */

export const DEFAULT_ROUTE_KEY = 'default';

/** Where an error goes once retries are spent: fail the run, continue, or jump to a step. */
export type ErrorRoute = string;

export interface ErrorRoutes {
  /** Code → route, for the codes named (never `default`). */
  readonly byCode: ReadonlyMap<string, ErrorRoute>;
  /** The route of every other code. */
  readonly fallback: ErrorRoute;
}

/** The routes of a decoded `onError` (undefined: fail). */
export const errorRoutes = (
  onError: string | Readonly<Record<string, string>> | undefined,
): ErrorRoutes => {
  if (onError === undefined) return { byCode: new Map(), fallback: 'fail' };
  if (typeof onError === 'string') return { byCode: new Map(), fallback: onError };
  const byCode = new Map(Object.entries(onError).filter(([code]) => code !== DEFAULT_ROUTE_KEY));
  return { byCode, fallback: onError[DEFAULT_ROUTE_KEY] ?? 'fail' };
};

/** The route an error with `code` takes. */
export const routeFor = (routes: ErrorRoutes, code: string): ErrorRoute =>
  routes.byCode.get(code) ?? routes.fallback;

/** True for a route that jumps to a step (not `fail` or `continue`). */
export const isJump = (route: ErrorRoute): boolean => route !== 'fail' && route !== 'continue';

/**
 * Every route of a raw (undecoded) `onError` with where it is written: `key` is the code it is
 * written under (undefined for the one-route form). Lenient: what is not a string is left out.
 */
export const rawRoutes = (
  onError: unknown,
): { readonly key: string | undefined; readonly route: string }[] => {
  if (typeof onError === 'string') return [{ key: undefined, route: onError }];
  if (!isRecord(onError)) return [];
  return Object.entries(onError).flatMap(([key, route]) =>
    typeof route === 'string' ? [{ key, route }] : [],
  );
};
