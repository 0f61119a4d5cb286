/**
 * The loop a program runs with a model to have it write a blueprint, then run it:
 *
 *   schema + activity catalogue + task  →  model  →  blueprint
 *   validate  →  diagnostics back to the model until it is valid
 *   simulate with canned results  →  put  →  run
 *
 * The model call is yours (`askModel` below); this example replays two recorded answers — the
 * first with three mistakes a model makes (a dependency on a step that does not exist, a
 * misspelt activity, a duration without a unit), the second the model's fix after it was shown
 * the diagnostics. Run it against `weft dev`, which serves the activities it uses (in a checkout,
 * under Node 24: `npm start` in one terminal, then `npm run example:llm` in another).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { blueprintJsonSchema, simulateBlueprint, type Diagnostic } from 'weft/blueprint';
import { createClient } from 'weft/client';

const here = (file: string) => new URL(file, import.meta.url);
const json = (file: string): unknown => JSON.parse(readFileSync(here(file), 'utf8'));

/** Replace with your model: it gets the prompt, it answers a blueprint as JSON text. */
const recorded = ['attempt-1.response.json', 'attempt-2.response.json'];
const askModel = (prompt: string, attempt: number): Promise<string> => {
  console.log(`→ model, attempt ${attempt}: a prompt of ${prompt.length} characters`);
  return readFile(here(recorded[Math.min(attempt, recorded.length) - 1] ?? ''), 'utf8');
};

const describe = (d: Diagnostic) =>
  `${d.severity} ${d.code} at ${d.path}: ${d.message}${d.hint === undefined ? '' : ` (${d.hint})`}`;

export const author = async (servers = process.env.WEFT_NATS_URL ?? 'nats://127.0.0.1:4222') => {
  const weft = await createClient({ servers });
  try {
    // 1. What the model is given: the language (the JSON Schema), what it may call, the task.
    const catalogue = (await weft.activities()).map(({ name, description, input, output }) => ({
      name,
      ...(description === undefined ? {} : { description }),
      ...(input === undefined ? {} : { input }),
      ...(output === undefined ? {} : { output }),
    }));
    const task =
      'Write a weft blueprint named doubled_report: fetch $input.count numbered items, double ' +
      'each one (five at a time), then save the results; its output is what the save returns.';
    let prompt = [
      'You write weft blueprints: JSON valid under this schema.',
      JSON.stringify(blueprintJsonSchema()),
      'Activities you may call:',
      JSON.stringify(catalogue),
      task,
      'Answer with the blueprint JSON only.',
    ].join('\n\n');

    // 2. Ask, validate (the runtime's validator: it also checks the activities workers serve),
    //    and give every diagnostic back until the blueprint is valid.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const text = await askModel(prompt, attempt);
      const blueprint = JSON.parse(text) as unknown;
      const { valid, diagnostics } = await weft.blueprints.validate(blueprint);
      for (const d of diagnostics) console.log(`  ${describe(d)}`);
      const problems = diagnostics.filter(
        (d) => d.severity === 'error' || d.code === 'unknown_activity',
      );
      if (!valid || problems.length > 0) {
        prompt += `\n\nYour blueprint has these problems; answer the whole blueprint again, fixed:\n${problems.map(describe).join('\n')}`;
        continue;
      }

      // 3. A dry run with canned results: the path it takes, before anything is dispatched.
      const simulated = await simulateBlueprint(
        blueprint,
        { count: 3 },
        json('dry-run.results.json') as never,
      );
      if (!simulated.ok) throw new Error('the simulator refused a valid blueprint');
      const { simulation } = simulated;
      for (const step of simulation.path)
        console.log(`  simulated: ${step.kind} ${'step' in step ? step.step : ''}`);
      console.log(`  simulated run ${simulation.status}: ${JSON.stringify(simulation.output)}`);
      if (simulation.status !== 'completed') throw new Error('the dry run did not complete');

      // 4. Store it as a version, and run it for real.
      const put = await weft.blueprints.put(blueprint as never);
      console.log(`put ${put.name} v${put.version}`);
      const done = await weft.execute({
        blueprint: put.name,
        input: { count: 3 },
        timeoutMs: 20_000,
      });
      console.log(`run ${done.runId} ${done.status}: ${JSON.stringify(done.output)}`);
      return { attempts: attempt, simulated: simulation.output, ran: done };
    }
    throw new Error('no valid blueprint after 3 attempts');
  } finally {
    await weft.close();
  }
};

if (import.meta.main) await author();
