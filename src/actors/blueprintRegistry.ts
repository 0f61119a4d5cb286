import * as Effect from 'effect/Effect';
import * as Result from 'effect/Result';
import * as Schema from 'effect/Schema';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import type { EventStoreShape, RecordedEvent } from '../store/EventStore.ts';
import { contentHash, eventId } from '../store/eventId.ts';
import { BLUEPRINT_STREAM_PREFIX, blueprintStream } from '../store/streams.ts';
import { weftError, type WeftError } from '../wire/errors.ts';

/**
 * Versioned blueprints, one stream each (`blueprint-<name>`): `BlueprintVersionCreated` per new
 * content, `BlueprintDeleted` on delete. Putting the same content as the latest version returns
 * that version; different content makes version N+1 (versions keep counting after a delete, so a
 * version number never means two contents). Runs pin their content, so deleting never touches them.
 */

const VersionCreated = Schema.Struct({
  type: Schema.Literal('BlueprintVersionCreated'),
  version: Schema.Number,
  hash: Schema.String,
  content: Schema.Json,
});
const Deleted = Schema.Struct({ type: Schema.Literal('BlueprintDeleted') });
const BlueprintEvent = Schema.Union([VersionCreated, Deleted]);
type BlueprintEvent = typeof BlueprintEvent.Type;
const decodeEvent = Schema.decodeUnknownResult(BlueprintEvent);

export interface BlueprintVersion {
  readonly name: string;
  readonly version: number;
  readonly hash: string;
  readonly content: Json;
}

interface BlueprintHistory {
  readonly versions: readonly BlueprintVersion[];
  readonly deleted: boolean;
  readonly revision: number | 'no_stream';
}

const fold = (name: string, events: readonly RecordedEvent[]): BlueprintHistory => {
  const versions: BlueprintVersion[] = [];
  let deleted = false;
  for (const recorded of events) {
    const decoded = decodeEvent({ ...(recorded.data as object), type: recorded.type });
    if (Result.isFailure(decoded)) continue;
    const event: BlueprintEvent = decoded.success;
    if (event.type === 'BlueprintVersionCreated') {
      versions.push({ name, version: event.version, hash: event.hash, content: event.content });
      deleted = false;
    } else {
      deleted = true;
    }
  }
  const last = events[events.length - 1];
  return { versions, deleted, revision: last === undefined ? 'no_stream' : last.revision };
};

const MAX_CONFLICT_RETRIES = 5;
const MAX_CACHED_HISTORIES = 1000;

export class BlueprintRegistry {
  readonly #store: EventStoreShape;

  constructor(store: EventStoreShape) {
    this.#store = store;
  }

  /** Histories read so far: re-read only when the stream's revision moved (another runtime may have put). */
  readonly #histories = new Map<string, BlueprintHistory>();

  async #history(name: string): Promise<BlueprintHistory> {
    const stream = blueprintStream(name);
    const cached = this.#histories.get(name);
    if (
      cached !== undefined &&
      cached.revision === (await Effect.runPromise(this.#store.revision(stream)))
    )
      return cached;
    const history = fold(name, await Effect.runPromise(this.#store.read(stream)));
    if (history.revision !== 'no_stream') {
      this.#histories.delete(name);
      this.#histories.set(name, history);
      if (this.#histories.size > MAX_CACHED_HISTORIES)
        this.#histories.delete(this.#histories.keys().next().value ?? name);
    }
    return history;
  }

  /** Idempotent for equal content. Retries (bounded) when another writer appended first. */
  async put(blueprint: Blueprint): Promise<BlueprintVersion & { readonly created: boolean }> {
    const content = blueprint as unknown as Json;
    const hash = contentHash(content);
    const stream = blueprintStream(blueprint.name);
    for (let i = 0; i < MAX_CONFLICT_RETRIES; i++) {
      const history = await this.#history(blueprint.name);
      const latest = history.versions[history.versions.length - 1];
      if (latest !== undefined && latest.hash === hash && !history.deleted)
        return { ...latest, created: false };
      const version = (latest?.version ?? 0) + 1;
      const data = { version, hash, content };
      const revision = history.revision === 'no_stream' ? 0 : history.revision + 1;
      const appended = await Effect.runPromise(
        Effect.result(
          this.#store.append(
            stream,
            [
              {
                id: eventId(stream, revision, 'BlueprintVersionCreated', data),
                type: 'BlueprintVersionCreated',
                data,
              },
            ],
            history.revision,
          ),
        ),
      );
      if (Result.isSuccess(appended))
        return { name: blueprint.name, version, hash, content, created: true };
      if (appended.failure._tag !== 'VersionConflict') throw appended.failure;
    }
    throw weftError(
      'unavailable',
      `blueprint '${blueprint.name}' is being changed by others; try again`,
    );
  }

  /** The latest version, or the given one; `blueprint_not_found` when absent or deleted. */
  async get(name: string, version?: number): Promise<BlueprintVersion> {
    const history = await this.#history(name);
    const found =
      version === undefined
        ? history.deleted
          ? undefined
          : history.versions[history.versions.length - 1]
        : history.versions.find((v) => v.version === version);
    if (found === undefined) {
      throw notFound(name, version);
    }
    return found;
  }

  async delete(name: string): Promise<boolean> {
    const stream = blueprintStream(name);
    for (let i = 0; i < MAX_CONFLICT_RETRIES; i++) {
      const history = await this.#history(name);
      if (history.revision === 'no_stream' || history.deleted) return false;
      const appended = await Effect.runPromise(
        Effect.result(
          this.#store.append(
            stream,
            [
              {
                id: eventId(stream, history.revision + 1, 'BlueprintDeleted', {}),
                type: 'BlueprintDeleted',
                data: {},
              },
            ],
            history.revision,
          ),
        ),
      );
      if (Result.isSuccess(appended)) return true;
      if (appended.failure._tag !== 'VersionConflict') throw appended.failure;
    }
    throw weftError('unavailable', `blueprint '${name}' is being changed by others; try again`);
  }

  async list(): Promise<readonly { readonly name: string; readonly latestVersion: number }[]> {
    const byStream = new Map<string, RecordedEvent[]>();
    let after: number | undefined;
    for (;;) {
      const page = await Effect.runPromise(
        this.#store.readAll({
          streamPrefix: BLUEPRINT_STREAM_PREFIX,
          limit: 1000,
          ...(after === undefined ? {} : { after }),
        }),
      );
      for (const e of page) byStream.set(e.stream, [...(byStream.get(e.stream) ?? []), e]);
      const last = page[page.length - 1];
      if (last === undefined || page.length < 1000) break;
      after = last.position;
    }
    return [...byStream]
      .map(([stream, events]) => fold(stream.slice(BLUEPRINT_STREAM_PREFIX.length), events))
      .flatMap((h) => {
        const latest = h.versions[h.versions.length - 1];
        return latest === undefined || h.deleted
          ? []
          : [{ name: latest.name, latestVersion: latest.version }];
      })
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}

const notFound = (name: string, version: number | undefined): WeftError =>
  weftError(
    'blueprint_not_found',
    version === undefined
      ? `no blueprint named '${name}'`
      : `blueprint '${name}' has no version ${version}`,
    { name, ...(version === undefined ? {} : { version }) },
  );
