import { blueprint, type Blueprint, type BlueprintBuilder, type Json } from 'weft/blueprint';

/**
 * A multi-agent chain generated from a list of agent roles: one `agent_work` activity step per
 * role, each fed the previous agent's output (the first one gets the run input). Pure: the same
 * arguments give the same blueprint. `blueprint.json` is `buildAgentChain()`; `variant_a.json` and
 * `variant_b.json` are the A/B pair of `buildAbVariants()`.
 */

export const DEFAULT_AGENTS = ['researcher', 'writer', 'reviewer'] as const;

export interface AgentChainOptions {
  readonly name?: string;
  /** The roles, in order; each becomes a step whose id is the role. */
  readonly agents?: readonly string[];
  /** Extra settings per role, passed to that agent as `settings`. */
  readonly settings?: Readonly<Record<string, Json>>;
  readonly description?: string;
}

/** The run input of a chain. */
export interface AgentChainInput {
  readonly topic: string;
}

export const buildAgentChain = ({
  name = 'multi_agent',
  agents = DEFAULT_AGENTS,
  settings = {},
  description = `A chain of agents built from a list: ${agents.join(' → ')}. Each agent gets the previous agent's output.`,
}: AgentChainOptions = {}): Blueprint => {
  if (agents.length === 0) throw new RangeError('an agent chain needs at least one agent');
  if (new Set(agents).size !== agents.length)
    throw new RangeError(`agent roles must be unique: ${agents.join(', ')}`);
  const last = agents[agents.length - 1] ?? '';
  // The ids come from data, so the builder's type is `BlueprintBuilder<string>`: the compiler
  // cannot check them, `build()` does (a role that is not a name throws BlueprintInvalid).
  return agents
    .reduce<BlueprintBuilder<string, never, AgentChainInput>>(
      (chain, role, i) =>
        chain.activity(role, {
          activity: 'agent_work',
          input: {
            role,
            topic: '{% $input.topic %}',
            settings: settings[role] ?? {},
            previous: i === 0 ? null : `{% $steps.${agents[i - 1] ?? ''} %}`,
          },
        }),
      blueprint(name).input<AgentChainInput>().description(description),
    )
    .output(`{% $steps.${last} %}`)
    .build();
};

/** Two blueprints that differ in one parameter: the writer's tone. */
export const buildAbVariants = (): readonly [Blueprint, Blueprint] => [
  buildAgentChain({
    name: 'multi_agent_a',
    settings: { writer: { tone: 'formal' } },
    description: 'A/B variant A of multi_agent: the writer writes formally.',
  }),
  buildAgentChain({
    name: 'multi_agent_b',
    settings: { writer: { tone: 'casual' } },
    description: 'A/B variant B of multi_agent: the writer writes casually.',
  }),
];
