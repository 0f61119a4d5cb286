import { describe, expect, it } from 'vitest';

/** The package's entry points (package.json `exports`) resolve and export what CONTRACT §6 names. */
describe('the package entry points', () => {
  it('weft/worker, weft/client, weft/blueprint, weft/runtime and weft itself', async () => {
    const worker = await import('weft/worker');
    expect(Object.keys(worker).sort()).toEqual(['TerminalError', 'createWorker', 'defineActivity']);
    const client = await import('weft/client');
    expect(typeof client.createClient).toBe('function');
    expect(new client.RunNotFoundError('x')).toBeInstanceOf(client.WeftClientError);
    const blueprint = await import('weft/blueprint');
    expect(blueprint.validateBlueprint({ name: 'ok', steps: [] }).ok).toBe(false);
    const runtime = await import('weft/runtime');
    expect(typeof runtime.startRuntime).toBe('function');
    const root = await import('weft');
    expect(typeof root.startRuntime).toBe('function');
    expect(typeof root.createWorker).toBe('function');
  });
});
