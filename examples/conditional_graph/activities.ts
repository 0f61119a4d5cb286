import { TerminalError } from 'weft/worker';
import { asNumber, asObject, asString } from '../lib.ts';

/** Activities of `conditional_graph`: an order whose payment may fail and be routed to a review. Deterministic. */

/** `{orderId, amount, card, express}` → the normalised order. */
export const graph_receive_order = (
  input: unknown,
): { orderId: string; amount: number; card: string; express: boolean } => {
  const { orderId, amount, card, express } = asObject(input);
  return {
    orderId: asString(orderId),
    amount: asNumber(amount),
    card: asString(card),
    express: express === true,
  };
};

/** Charges the card; a declined card is a TerminalError (retrying would not help). */
export const graph_charge_card = (input: unknown): { receipt: string; charged: number } => {
  const { orderId, amount, card } = asObject(input);
  if (card === 'declined')
    throw new TerminalError(`card declined for order ${asString(orderId)}: insufficient funds`);
  return { receipt: `rcpt_${asString(orderId)}`, charged: asNumber(amount) };
};

/** The error route of `charge`: `{orderId, error}` → a review ticket that quotes the error. */
export const graph_manual_review = (input: unknown): { ticket: string; reason: string } => {
  const { orderId, error } = asObject(input);
  const e = asObject(error);
  return {
    ticket: `review_${asString(orderId)}`,
    reason: asString(e.message, JSON.stringify(error ?? null)),
  };
};

/** `{orderId, express}` → a shipment. */
export const graph_ship = (input: unknown): { shipped: string; service: string } => {
  const { orderId, express } = asObject(input);
  return { shipped: asString(orderId), service: express === true ? 'express' : 'standard' };
};

/** `{orderId}` → the order is held until its payment is sorted out. */
export const graph_hold = (input: unknown): { held: string } => ({
  held: asString(asObject(input).orderId),
});
