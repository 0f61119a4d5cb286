import { appendFileSync } from 'node:fs';
import * as Schema from 'effect/Schema';
import { defineActivity } from '../../src/index.ts';

/**
 * A typed activity for the typed-activity tests (`weft worker test/support/typedActivities.ts`):
 * its input and output are Effect schemas, so the worker checks both and announces their JSON
 * Schemas. Every run of it appends `<taskId>/<attempt>` to the file `input.log`. Only activities
 * are exported: every exported function or definition is one.
 */

const Charge = Schema.Struct({
  amount: Schema.Finite,
  currency: Schema.Literals(['EUR', 'USD']),
  log: Schema.String,
});
const Receipt = Schema.Struct({ charged: Schema.Finite, currency: Schema.String });

export const typedCharge = defineActivity({
  name: 'typed_charge',
  description: 'Charges an amount in a currency',
  input: Charge,
  output: Receipt,
  run: (input, ctx) => {
    appendFileSync(input.log, `${ctx.taskId}/${ctx.attempt}\n`);
    return { charged: input.amount, currency: input.currency };
  },
});
