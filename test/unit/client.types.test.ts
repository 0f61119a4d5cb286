import { describe, expectTypeOf, it } from 'vitest';
import {
  createClient,
  InvalidBlueprintError,
  RunNotFoundError,
  type Diagnostic,
  type ClientOptions,
  type Executed,
  type RunEvent,
  type RunSummary,
  type WeftClient,
} from 'weft/client';

/**
 * The typed client's types, checked by the compiler (`tsc --noEmit` covers test/): what each
 * method takes and gives, and what it refuses. The `@ts-expect-error` lines fail the typecheck
 * if the line they mark ever compiles.
 */

/** What typed calls give, as the compiler infers them (never called). */
const calls = {
  execute: (client: WeftClient) => client.execute<{ total: number }>({ blueprint: 'x' }),
  query: (client: WeftClient) => client.query<number>('run', 'total'),
};

describe('the typed client, as the compiler sees it', () => {
  it('takes NATS connection options (TLS, credentials) beside servers and prefix', () => {
    expectTypeOf(createClient).parameter(0).toEqualTypeOf<ClientOptions | undefined>();
    const options: ClientOptions = {
      servers: ['nats://a:4222', 'nats://b:4222'],
      prefix: 'weft',
      user: 'u',
      pass: 'p',
      tls: { caFile: '/ca.pem' },
      timeoutMs: 5000,
    };
    expectTypeOf(options.servers).toEqualTypeOf<string | readonly string[] | undefined>();
    // @ts-expect-error: servers is a string or a list of strings
    const wrong: ClientOptions = { servers: 4222 };
    expectTypeOf(wrong).toEqualTypeOf<ClientOptions>();
  });

  it('types start, execute, get, query and the iterators', () => {
    expectTypeOf<WeftClient['get']>().returns.resolves.toEqualTypeOf<RunSummary>();
    expectTypeOf(calls.execute).returns.resolves.toEqualTypeOf<Executed<{ total: number }>>();
    expectTypeOf<Executed<{ total: number }>['output']>().toEqualTypeOf<
      { total: number } | undefined
    >();
    expectTypeOf(calls.query).returns.resolves.toEqualTypeOf<number>();
    expectTypeOf<WeftClient['list']>().returns.toEqualTypeOf<AsyncIterable<RunSummary>>();
    expectTypeOf<WeftClient['watch']>().returns.toEqualTypeOf<AsyncIterable<RunEvent>>();
    expectTypeOf<WeftClient['history']>().returns.toEqualTypeOf<AsyncIterable<RunEvent>>();
    expectTypeOf<RunSummary['status']>().toEqualTypeOf<
      'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out'
    >();
    // Never called: what the compiler refuses.
    const refused = (client: WeftClient) => [
      // @ts-expect-error: a start names its blueprint
      client.start({ input: 1 }),
      // @ts-expect-error: an inline blueprint is a blueprint, not any object
      client.start({ blueprint: { name: 'x', steps: [{ id: 'a', type: 'nope' }] } }),
      // @ts-expect-error: a list filter's status is a run status
      client.list({ status: 'done' }),
      // @ts-expect-error: an input is JSON, not a function
      client.start({ blueprint: 'x', input: () => 1 }),
    ];
    expectTypeOf(refused).toBeFunction();
  });

  it('gives each error code its class, with its code as a literal type', () => {
    expectTypeOf<RunNotFoundError['code']>().toEqualTypeOf<'run_not_found'>();
    expectTypeOf<InvalidBlueprintError['diagnostics']>().toEqualTypeOf<readonly Diagnostic[]>();
  });
});
