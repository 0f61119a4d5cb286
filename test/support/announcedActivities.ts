import { defineActivity } from '../../src/index.ts';

/**
 * Activities of the announcement tests' workers (`weft worker test/support/announcedActivities.ts`):
 * one declared with `defineActivity` (a name other than its export, a description, schemas), one
 * a plain function.
 */

export const chargeCard = defineActivity({
  name: 'charge_card',
  description: 'Charges a card once per task',
  input: {
    type: 'object',
    properties: { amount: { type: 'number' } },
    required: ['amount'],
  },
  output: { type: 'object', properties: { charged: { type: 'number' } } },
  run: (input) => ({ charged: (input as { amount: number }).amount }),
});

export const ship_order = (input: unknown) => ({ shipped: input });
