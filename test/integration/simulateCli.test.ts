import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWeft } from '../support/weft.ts';

/**
 * `weft blueprint simulate`, run the way a user runs it (`node bin/weft.js …`), on the example
 * blueprint `examples/blueprints/data_pipeline.json`: no NATS, no store, no worker (the NATS URL
 * points where nothing listens).
 */

const BLUEPRINT = 'examples/blueprints/data_pipeline.json';
const INPUT = '@examples/blueprints/data_pipeline.input.json';

const weft = (args: readonly string[]) => runWeft([...args, '--nats', 'nats://127.0.0.1:1']);

let dir: string;
let results: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-simulate-'));
  results = join(dir, 'results.json');
  writeFileSync(
    results,
    JSON.stringify({
      activities: {
        validate_data: { output: { data: [{ name: 'ada', score: 41 }], checked: 1 } },
        transform_data: [
          { error: { code: 'timeout', message: 'no result within 30s' } },
          { output: [{ name: 'ADA', score: 82 }] },
        ],
        enrich_data: { output: [{ name: 'ADA', score: 82, enriched: true }] },
      },
    }),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('weft blueprint simulate', { timeout: 60_000 }, () => {
  it('prints the path and the output of a dry run, as text and as JSON; exit 1 when it cannot end', async () => {
    const [human, json, missing, usage] = await Promise.all([
      weft(['blueprint', 'simulate', BLUEPRINT, '--input', INPUT, '--results', results]),
      weft(['blueprint', 'simulate', BLUEPRINT, '--input', INPUT, '--results', results, '--json']),
      weft(['blueprint', 'simulate', BLUEPRINT, '--input', INPUT]),
      weft(['blueprint', 'simulate']),
    ]);

    expect(human.stderr).toBe('');
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^simulating data_pipeline with input \{"data":/);
    expect(lines.slice(1, -1).map((line) => line.replace(/ input .*→/, ' →'))).toEqual([
      '  +0ms     step validate (activity validate_data) attempt 1 → output {"data":[{"name":"ada","score":41}],"checked":1}',
      '  +0ms     step transform (activity transform_data) attempt 1 → error [timeout] no result within 30s (retryable)',
      '  +100ms   step transform (activity transform_data) attempt 2 → output [{"name":"ADA","score":82}]',
      '  +100ms   step enrich (activity enrich_data) attempt 1 → output [{"name":"ADA","score":82,"enriched":true}]',
      '  +100ms   run completed: output [{"name":"ADA","score":82,"enriched":true}]',
    ]);

    expect(json.code).toBe(0);
    const simulation = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(simulation).toMatchObject({
      status: 'completed',
      blueprint: 'data_pipeline',
      output: [{ name: 'ADA', score: 82, enriched: true }],
      elapsedMs: 100,
      steps: {
        validate: { type: 'activity', attempts: 1 },
        transform: { type: 'activity', attempts: 2, output: [{ name: 'ADA', score: 82 }] },
        enrich: { type: 'activity', attempts: 1, input: [{ name: 'ADA', score: 82 }] },
      },
      unused: [],
    });
    expect((simulation.path as unknown[]).length).toBe(4);

    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(
      "simulation incomplete: no canned result for activity 'validate_data' at step 'validate'",
    );

    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^weft: missing blueprint file/);
  });
});
