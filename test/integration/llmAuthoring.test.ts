import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { author } from '../../examples/llm_authoring/author.ts';
import { startStack, type Stack } from '../support/weft.ts';

/**
 * examples/llm_authoring/author.ts end to end, against a real runtime serving the example
 * activities: the recorded first answer is refused with its diagnostics fed back, the second is
 * valid, its dry run completes with the canned results, and the real run completes.
 */

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ workerModule: 'examples/worker.ts' });
});

afterAll(async () => {
  await (stack as Stack | undefined)?.stop();
});

describe('the LLM authoring example', () => {
  it('validates, feeds the diagnostics back, simulates, puts and runs the fixed blueprint', async () => {
    const lines: string[] = [];
    const log = vi
      .spyOn(console, 'log')
      .mockImplementation((line: string) => void lines.push(line));
    try {
      const result = await author(stack.nats.url);
      expect(result.attempts).toBe(2);
      // The first answer's three mistakes, each named with its place.
      const said = lines.join('\n');
      expect(said).toMatch(/error unknown_dependency at \$\.steps\[1\]\.dependsOn\[0\]/u);
      expect(said).toMatch(/error duration_unit at \$\.steps\[1\]\.step\.timeout/u);
      expect(said).toMatch(/unknown_activity at \$\.steps\[1\]\.step\.activity.*ai_double/u);
      // The second prompt carried them back to the model.
      expect(lines.find((l) => l.startsWith('→ model, attempt 2'))).toBeDefined();
      expect(result.simulated).toEqual({ saved: 3, total: 12, first: 2, last: 6 });
      expect(result.ran).toMatchObject({
        status: 'completed',
        output: { saved: 3, total: 12, first: 2, last: 6 },
      });
    } finally {
      log.mockRestore();
    }
  });
});
