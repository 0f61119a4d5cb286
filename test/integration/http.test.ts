import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects } from '../../src/wire/subjects.ts';
import { exposure } from '../../src/http/auth.ts';
import { parseAddress, startHttp, type HttpServer } from '../../src/http/server.ts';
import { waitFor } from '../support/wait.ts';
import { runEnded, startServe, startStack, type Stack } from '../support/weft.ts';

/**
 * The HTTP API (the UI's), in front of a real runtime and worker on a real nats-server: each route
 * answers what the NATS API answers, with an HTTP status for its error code; `/api/events`
 * streams run events as server-sent events; read-only mode refuses what changes something.
 */

let stack: Stack;
let http: HttpServer;
let readOnly: HttpServer;

beforeAll(async () => {
  stack = await startStack();
  http = await startHttp({ nc: stack.client.nc, prefix: 'weft', host: '127.0.0.1', port: 0 });
  readOnly = await startHttp({
    nc: stack.client.nc,
    prefix: 'weft',
    host: '127.0.0.1',
    port: 0,
    readOnly: true,
  });
});

afterAll(async () => {
  await http.close();
  await readOnly.close();
  await stack.stop();
});

interface Reply<T = unknown> {
  readonly status: number;
  readonly body: { ok: boolean; data?: T; error?: { code: string; message: string } };
}

const call = async <T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  base = http.url,
): Promise<Reply<T>> => {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Reply<T>['body'] };
};

const gate = {
  name: 'http_gate',
  signals: [{ name: 'go' }],
  steps: [
    { id: 'hello', type: 'activity', activity: 'echo', input: '{% $input %}' },
    { id: 'gate', type: 'wait', signal: 'go' },
  ],
};

describe('the HTTP API', () => {
  it('starts a run, lists and gets it, signals it to its end and reads its history', async () => {
    const put = await call<{ name: string; version: number }>('PUT', '/api/blueprints', {
      blueprint: gate,
    });
    expect(put.status).toBe(200);
    expect(put.body.data).toMatchObject({ name: 'http_gate', version: 1 });
    const started = await call<{ runId: string }>('POST', '/api/runs', {
      blueprint: 'http_gate',
      runId: 'http-1',
      input: { n: 1 },
    });
    expect(started).toMatchObject({ status: 200, body: { ok: true, data: { runId: 'http-1' } } });
    const listed = await call<{ runs: { runId: string }[] }>(
      'GET',
      '/api/runs?blueprint=http_gate',
    );
    expect(listed.body.data?.runs.map((r) => r.runId)).toEqual(['http-1']);
    const status = await call<{ waitingFor: string[] }>(
      'POST',
      '/api/runs/http-1/query/get_status',
    );
    expect(status.status).toBe(200);
    const signalled = await call('POST', '/api/runs/http-1/signal/go', { ok: true });
    expect(signalled.status).toBe(200);
    expect((await runEnded(stack.client, 'http-1')).status).toBe('completed');
    const got = await call<{ status: string; output: unknown }>('GET', '/api/runs/http-1');
    expect(got.body.data).toMatchObject({ status: 'completed', output: { ok: true } });
    const history = await call<{ events: { type: string }[] }>(
      'GET',
      '/api/runs/http-1/history?limit=100',
    );
    expect(history.body.data?.events.map((e) => e.type)).toContain('SignalReceived');
    const blueprint = await call<{ version: number }>('GET', '/api/blueprints/http_gate');
    expect(blueprint.body.data).toMatchObject({ version: 1 });
  });

  it('folds a run to any event of its history, as weft replay --to does', async () => {
    const history = await call<{ events: { revision: number; type: string }[] }>(
      'GET',
      '/api/runs/http-1/history?limit=100',
    );
    const events = history.body.data?.events ?? [];
    const signal = events.find((e) => e.type === 'SignalReceived')?.revision ?? -1;
    const before = await call<{ status: string; activeSteps: string[]; steps: object }>(
      'GET',
      `/api/runs/http-1/state?at=${signal - 1}`,
    );
    expect(before.body.data).toMatchObject({
      revision: signal - 1,
      events: events.length,
      status: 'running',
      steps: { hello: { step: 'hello', got: { n: 1 } } },
    });
    expect(before.body.data).toMatchObject({ stepStates: { hello: 'completed', gate: 'running' } });
    const after = await call<{ status: string; steps: object }>(
      'GET',
      '/api/runs/http-1/state?graph=true',
    );
    expect(after.body.data).toMatchObject({
      revision: events.length - 1,
      status: 'completed',
      steps: { gate: { ok: true } },
      stepStates: { hello: 'completed', gate: 'completed' },
      graph: {
        nodes: [
          { id: 'hello', type: 'activity', list: '$', activity: 'echo' },
          { id: 'gate', type: 'wait', list: '$' },
        ],
        edges: [{ from: 'hello', to: 'gate', kind: 'after' }],
      },
    });
    expect(await call('GET', '/api/runs/http-1/state?at=x')).toMatchObject({ status: 400 });
    expect(await call('GET', '/api/runs/nope/state')).toMatchObject({ status: 404 });
  });

  it('draws a blueprint being written, or lists every diagnostic at its place', async () => {
    const good = await call<{ valid: boolean; graph: { nodes: { id: string }[] } }>(
      'POST',
      '/api/blueprints/graph',
      { blueprint: gate },
    );
    expect(good.body.data?.valid).toBe(true);
    expect(good.body.data?.graph.nodes.map((n) => n.id)).toEqual(['hello', 'gate']);
    const bad = await call<{ valid: boolean; diagnostics: { path: string; code: string }[] }>(
      'POST',
      '/api/blueprints/graph',
      {
        blueprint: {
          name: 'x',
          steps: [{ id: 'a', type: 'activity', activity: 'y', dependsOn: ['b'] }],
        },
      },
    );
    expect(bad.body.data).toMatchObject({
      valid: false,
      diagnostics: [{ path: '$.steps[0].dependsOn[0]', code: 'unknown_dependency' }],
    });
    expect(bad.body.data).not.toHaveProperty('graph');
  });

  it('answers errors with their code and an HTTP status for it', async () => {
    expect(await call('GET', '/api/runs/nope')).toMatchObject({
      status: 404,
      body: { ok: false, error: { code: 'run_not_found' } },
    });
    expect(await call('GET', '/api/runs/bad.id')).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_request' } },
    });
    expect(await call('POST', '/api/runs', '{not json')).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_json' } },
    });
    expect(
      await call('POST', '/api/blueprints/validate', { blueprint: { name: 'x' } }),
    ).toMatchObject({
      status: 200,
      body: { ok: true },
    });
    expect(await call('GET', '/api/nothing')).toMatchObject({ status: 404 });
    expect(await call('DELETE', '/api/runs')).toMatchObject({ status: 405 });
  });

  it('refuses what changes something in read-only mode, and still reads', async () => {
    expect(await call('POST', '/api/runs', { blueprint: 'http_gate' }, readOnly.url)).toMatchObject(
      { status: 403, body: { error: { code: 'read_only' } } },
    );
    expect((await call('GET', '/api/runs', undefined, readOnly.url)).status).toBe(200);
  });

  it('streams run events as server-sent events while the run moves', async () => {
    const controller = new AbortController();
    const response = await fetch(`${http.url}/api/events?runId=http-2`, {
      signal: controller.signal,
    });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/u);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    /** Reads the stream until `marker` arrived, for at most 10 s. */
    const readUntil = async (marker: string) => {
      const deadline = Date.now() + 10_000;
      while (!text.includes(marker)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no '${marker}' on the stream within 10 s: ${text}`);
        const chunk = await Promise.race([
          reader.read(),
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), left)),
        ]);
        if (chunk?.value !== undefined) text += decoder.decode(chunk.value);
      }
    };
    // The stream is open (its first comment arrived) before the run starts.
    await readUntil(': weft events');
    await call('POST', '/api/runs', { blueprint: 'http_gate', runId: 'http-2', input: 2 });
    expect((await call('POST', '/api/runs/http-2/signal/go', '"now"')).status).toBe(200);
    await readUntil('event: RunCompleted');
    controller.abort();
    const types = [...text.matchAll(/^event: (\w+)$/gmu)].map((m) => m[1]);
    expect(types[0]).toBe('RunStarted');
    expect(types).toContain('SignalReceived');
    expect(types.at(-1)).toBe('RunCompleted');
    expect(text).toContain('"runId":"http-2"');
  });

  it('ends an events stream with an error event on a message that is not JSON, and stays up', async () => {
    const response = await fetch(`${http.url}/api/events?runId=http-garbled`);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes(': weft events')) text += decoder.decode((await reader.read()).value);
    stack.client.nc.publish(new Subjects('weft').run('http-garbled', 'events'), 'not json');
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      text += decoder.decode(chunk.value);
    expect(text).toMatch(/^event: error$/mu);
    // The server still answers.
    expect((await call('GET', '/api')).status).toBe(200);
  });

  it('lists its routes as people write them', async () => {
    const index = await call<{ routes: string[] }>('GET', '/api');
    expect(index.body.data?.routes).toContain('GET /api/runs/:param/history');
    expect(index.body.data?.routes).toContain('POST /api/runs/:param/signal/:param');
  });

  it('says when an API without a token is open to more than this machine', () => {
    for (const url of [
      'http://127.0.0.1:7777',
      'http://127.8.0.1:1',
      'http://localhost:80',
      'http://[::1]:8080',
    ])
      expect(exposure(url, undefined, false), url).toBeUndefined();
    expect(exposure('http://0.0.0.0:7777', 'tok', false)).toBeUndefined();
    expect(exposure('http://0.0.0.0:7777', undefined, false)).toBe(
      'the HTTP API on http://0.0.0.0:7777 has no token: whoever reaches it can start, signal and cancel runs (--http-token, WEFT_HTTP_TOKEN)',
    );
    expect(exposure('http://10.1.2.3:80', undefined, true)).toMatch(/can read every run/u);
  });

  it('parses its listen address', () => {
    expect(parseAddress('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseAddress(':9')).toEqual({ host: '127.0.0.1', port: 9 });
    expect(parseAddress('7233')).toEqual({ host: '127.0.0.1', port: 7233 });
    expect(() => parseAddress('nowhere')).toThrow(/host:port/u);
  });
});

describe('with a token (weft serve --http-token)', () => {
  const TOKEN = 'tok-3f9a1c';
  let locked: HttpServer;

  beforeAll(async () => {
    locked = await startHttp({
      nc: stack.client.nc,
      prefix: 'weft',
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
    });
  });
  afterAll(() => locked.close());

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${locked.url}${path}`, { headers });

  it('refuses every /api request without the token or with another one: 401 unauthorized, nothing done', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: TOKEN }]) {
      for (const path of ['/api', '/api/runs', '/api/events']) {
        const response = await get(path, headers);
        expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Bearer realm="weft"');
        expect(await response.json()).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      }
    }
    const start = await fetch(`${locked.url}/api/runs`, {
      method: 'POST',
      body: JSON.stringify({ blueprint: 'http_gate', runId: 'http-locked' }),
    });
    expect(start.status).toBe(401);
    expect((await call('GET', '/api/runs/http-locked')).status).toBe(404);
    // The token in the URL counts on the events stream alone.
    expect((await get(`/api/runs?access_token=${TOKEN}`)).status).toBe(401);
  });

  it('answers with the token, as a bearer header or on the events stream in the URL, and serves the page without it', async () => {
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const index = await get('/api', bearer);
    expect(index.status).toBe(200);
    expect(await index.json()).toMatchObject({ ok: true, data: { readOnly: false } });
    const started = await fetch(`${locked.url}/api/runs`, {
      method: 'POST',
      headers: bearer,
      body: JSON.stringify({ blueprint: 'http_gate', runId: 'http-token', input: 1 }),
    });
    expect(await started.json()).toMatchObject({ ok: true, data: { runId: 'http-token' } });
    const controller = new AbortController();
    const events = await fetch(`${locked.url}/api/events?runId=http-token&access_token=${TOKEN}`, {
      signal: controller.signal,
    });
    expect(events.status).toBe(200);
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/u);
    controller.abort();
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/u);
  });
});

describe('weft serve --http with and without --http-token', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-http-token-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A runtime of its own prefix and store with `args`, and its UI's URL once it printed it. */
  const serveWith = async (name: string, args: readonly string[]) => {
    const serve = await startServe(stack.nats.url, `sqlite:${join(dir, `${name}.db`)}`, name, {
      args: [...args],
    });
    const printed = await waitFor(
      () => /weft UI on (http:\/\/\S+?)\/ /u.exec(serve.output())?.[1],
      {
        message: `${name}: the UI's address printed`,
      },
    );
    return { serve, url: printed };
  };

  it('takes the token by flag: the API refuses requests without it; no warning on loopback', async () => {
    const { serve, url } = await serveWith('tokened', [
      '--http',
      '127.0.0.1:0',
      '--http-token',
      's3cret',
    ]);
    try {
      expect((await fetch(`${url}/api`)).status).toBe(401);
      expect(
        (await fetch(`${url}/api`, { headers: { authorization: 'Bearer s3cret' } })).status,
      ).toBe(200);
      expect(serve.output()).toContain('(its JSON API under /api, with its token)');
      expect(serve.output()).not.toContain('warning:');
      expect(serve.output()).not.toContain('s3cret');
    } finally {
      await serve.stop();
    }
  });

  it('warns at start when it listens off loopback with no token', async () => {
    const { serve, url } = await serveWith('open', ['--http', '0.0.0.0:0']);
    try {
      const warning = `warning: the HTTP API on ${url} has no token: whoever reaches it can start, signal and cancel runs (--http-token, WEFT_HTTP_TOKEN)`;
      await waitFor(() => serve.output().includes(warning) || undefined, {
        message: 'the warning printed',
      });
    } finally {
      await serve.stop();
    }
  });
});

describe("the UI's files", () => {
  let dir: string;
  let ui: HttpServer;
  let unbuilt: HttpServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-ui-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>weft test page</title>');
    writeFileSync(join(dir, 'assets', 'app-1234.js'), `export const big = '${'x'.repeat(4096)}';`);
    ui = await startHttp({ ...base(), uiDir: dir });
    unbuilt = await startHttp({ ...base(), uiDir: join(dir, 'nothing-here') });
  });
  afterAll(async () => {
    await ui.close();
    await unbuilt.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = () => ({ nc: stack.client.nc, prefix: 'weft', host: '127.0.0.1', port: 0 });

  it('serves the page at / and at any path outside /api (pages are routed in the browser)', async () => {
    for (const path of ['/', '/runs/abc']) {
      const response = await fetch(`${ui.url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await response.text()).toContain('weft test page');
    }
    // The API is still the API.
    expect((await fetch(`${ui.url}/api/nope`)).status).toBe(404);
  });

  it('serves hashed assets gzipped and cached for good, and no file outside its folder', async () => {
    const response = await fetch(`${ui.url}/assets/app-1234.js`, {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(response.headers.get('cache-control')).toContain('immutable');
    expect(await response.text()).toContain('export const big');
    expect((await fetch(`${ui.url}/assets/missing.js`)).status).toBe(404);
    // `..` cannot climb out of the folder (fetch would resolve it; send it raw).
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(ui.url).port), '127.0.0.1', () =>
        socket.write(
          'GET /assets/../../../package.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        ),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).not.toContain('"dependencies"');
  });

  it('says how to build the UI when it is not built', async () => {
    const response = await fetch(`${unbuilt.url}/`);
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('npm run build:ui');
  });
});
