import { TerminalError } from 'weft/worker';
import { asNumber, asObject, asString } from '../lib.ts';

/**
 * The one activity of `multi_agent`: a stand-in for an LLM call. Its text is a deterministic
 * function of the role, the topic, the agent's settings and the previous agent's text, so a chain's
 * output can be asserted exactly.
 */

export interface AgentOutput {
  readonly role: string;
  readonly text: string;
  readonly turn: number;
}

export const agent_work = (input: unknown): AgentOutput => {
  const { role, topic, settings, previous } = asObject(input);
  const name = asString(role);
  const before = asObject(previous);
  const prior = asString(before.text);
  const turn = asNumber(before.turn) + 1;
  const tone = asString(asObject(settings).tone, 'neutral');
  switch (name) {
    case 'researcher':
      return { role: name, turn, text: `notes on ${asString(topic)}` };
    case 'writer':
      return { role: name, turn, text: `${tone} article from [${prior}]` };
    case 'reviewer':
      return { role: name, turn, text: `approved: ${prior}` };
    default:
      if (name === '') throw new TerminalError('agent_work needs a role');
      return { role: name, turn, text: `${name}(${prior === '' ? asString(topic) : prior})` };
  }
};
