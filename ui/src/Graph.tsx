import dagre from '@dagrejs/dagre';
import { useMemo } from 'preact/hooks';
import type { BlueprintGraph, RunState, StepState } from './api.ts';

/**
 * A blueprint drawn: each step a box coloured by its state, `after` edges (dependsOn, the order of
 * a list) solid, error routes dashed, and each container joined to the first steps of each list it
 * holds by a dotted edge named after the list (`b0`, `then`, `body`, `item`, …). Laid out top to
 * bottom by dagre; containers are boxes of their own rather than clusters, since dagre does not lay
 * out edges that end on a cluster.
 */

export const STATE_COLOURS: Readonly<Record<StepState, string>> = {
  pending: '#eef0f3',
  scheduled: '#fde68a',
  running: '#93c5fd',
  retrying: '#fdba74',
  completed: '#86efac',
  failed: '#fca5a5',
  skipped: '#f8fafc',
};

interface Props {
  readonly graph: BlueprintGraph;
  readonly states?: RunState['stepStates'];
  readonly progress?: RunState['progress'];
  readonly selected?: string | undefined;
  readonly onSelect?: (stepId: string) => void;
}

interface Placed {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly {
    readonly id: string;
    readonly type: string;
    readonly activity?: string;
    readonly x: number;
    readonly y: number;
    readonly w: number;
    readonly h: number;
  }[];
  readonly edges: readonly {
    readonly kind: 'after' | 'onError' | 'inside';
    readonly label?: string;
    readonly points: readonly { readonly x: number; readonly y: number }[];
  }[];
}

const NODE_HEIGHT = 44;

/** The first steps of each list a container holds: those with no `after` edge from their list. */
const insideEdges = (graph: BlueprintGraph) => {
  const listOf = new Map(graph.nodes.map((n) => [n.id, n.list]));
  const waits = new Set(
    graph.edges
      .filter((e) => e.kind === 'after' && listOf.get(e.from) === listOf.get(e.to))
      .map((e) => e.to),
  );
  return graph.nodes
    .filter((n) => n.parent !== undefined && !waits.has(n.id))
    .map((n) => ({ from: n.parent ?? '', to: n.id, label: n.list.split('.').at(-1) ?? '' }));
};

export const layoutGraph = (graph: BlueprintGraph): Placed => {
  const g = new dagre.graphlib.Graph<
    {
      width?: number;
      height?: number;
      rankdir?: string;
      nodesep?: number;
      ranksep?: number;
      marginx?: number;
      marginy?: number;
    },
    { width: number; height: number; x: number; y: number },
    { minlen?: number; weight?: number; points?: { x: number; y: number }[] }
  >({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 44, marginx: 12, marginy: 12 });
  for (const node of graph.nodes) {
    const text = Math.max(node.id.length, (node.activity ?? node.type).length + 2);
    g.setNode(node.id, { width: Math.max(96, text * 7.4 + 28), height: NODE_HEIGHT, x: 0, y: 0 });
  }
  const edges = [
    ...graph.edges.map((e, i) => ({
      name: `e${i}`,
      from: e.from,
      to: e.to,
      kind: e.kind,
      label: e.code,
    })),
    ...insideEdges(graph).map((e, i) => ({ name: `i${i}`, ...e, kind: 'inside' as const })),
  ].filter((e) => g.hasNode(e.from) && g.hasNode(e.to));
  for (const e of edges) g.setEdge(e.from, e.to, { weight: e.kind === 'onError' ? 0 : 1 }, e.name);
  dagre.layout(g);
  const label = g.graph();
  return {
    width: label.width ?? 0,
    height: label.height ?? 0,
    nodes: graph.nodes.map((n) => {
      const placed = g.node(n.id);
      return {
        id: n.id,
        type: n.type,
        ...(n.activity === undefined ? {} : { activity: n.activity }),
        x: placed.x - placed.width / 2,
        y: placed.y - placed.height / 2,
        w: placed.width,
        h: placed.height,
      };
    }),
    edges: edges.map((e) => ({
      kind: e.kind,
      ...(e.label === undefined ? {} : { label: e.label }),
      points: g.edge({ v: e.from, w: e.to, name: e.name }).points ?? [],
    })),
  };
};

const Arrow = ({ id, colour }: { readonly id: string; readonly colour: string }) => (
  <marker
    id={id}
    viewBox="0 0 10 10"
    refX="9"
    refY="5"
    markerWidth="7"
    markerHeight="7"
    orient="auto"
  >
    <path d="M0,0 L10,5 L0,10 z" fill={colour} />
  </marker>
);

const pathOf = (points: readonly { x: number; y: number }[]): string =>
  points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');

export const Graph = ({ graph, states, progress, selected, onSelect }: Props) => {
  const placed = useMemo(() => layoutGraph(graph), [graph]);
  return (
    <svg
      class="graph"
      data-testid="graph"
      viewBox={`0 0 ${placed.width} ${placed.height}`}
      width={placed.width}
      height={placed.height}
      role="img"
      aria-label="the blueprint's steps"
    >
      <defs>
        <Arrow id="arrow" colour="#64748b" />
        <Arrow id="arrow-error" colour="#dc2626" />
      </defs>
      {placed.edges.map((e, i) => {
        const middle = e.points[Math.floor(e.points.length / 2)];
        return (
          <g key={i} class={`edge edge-${e.kind}`}>
            <path
              d={pathOf(e.points)}
              marker-end={e.kind === 'onError' ? 'url(#arrow-error)' : 'url(#arrow)'}
            />
            {e.label !== undefined && e.label !== '' && middle !== undefined ? (
              <text x={middle.x + 4} y={middle.y - 3}>
                {e.label}
              </text>
            ) : null}
          </g>
        );
      })}
      {placed.nodes.map((n) => {
        const state = states?.[n.id] ?? 'pending';
        const counts = progress?.[n.id];
        return (
          <g
            key={n.id}
            class={`node node-${state}${selected === n.id ? ' selected' : ''}`}
            data-step={n.id}
            data-state={state}
            transform={`translate(${n.x},${n.y})`}
            onClick={() => onSelect?.(n.id)}
          >
            <title>{`${n.id} (${n.type}): ${state}`}</title>
            <rect width={n.w} height={n.h} rx="7" fill={STATE_COLOURS[state]} />
            <text class="node-id" x={10} y={18}>
              {n.id}
            </text>
            <text class="node-type" x={10} y={34}>
              {n.activity ?? n.type}
              {counts === undefined
                ? ''
                : ` · ${counts.done}/${counts.total}${counts.failed > 0 ? ` ✗${counts.failed}` : ''}`}
            </text>
          </g>
        );
      })}
    </svg>
  );
};
