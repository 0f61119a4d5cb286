import { compileExpression, isExpression } from '../expressions/sandbox.ts';
import { child, closest, Diagnostics, isRecord, NAME_HINT, own, type Raw } from './diagnostics.ts';
import { isJump, rawRoutes } from './onError.ts';
import { findCycles } from './cycles.ts';
import type { BlueprintLimits } from './limits.ts';
import type { RawList } from './rawSteps.ts';
import { isName, NAME_MAX_LENGTH } from './schema.ts';

const BUILT_IN_QUERIES = ['get_status', 'get_data', 'get_signals', 'get_handlers'];

/** The checks a schema cannot express; they walk the raw document, so they run even when decoding failed. */
export const semanticDiagnostics = (
  root: Raw,
  lists: readonly RawList[],
  limits: BlueprintLimits,
  out: Diagnostics,
): void => {
  const total = lists.reduce((n, l) => n + l.steps.length, 0);
  if (total > limits.maxSteps) {
    out.add(
      '$.steps',
      'too_many_steps',
      `the blueprint has ${total} steps; at most ${limits.maxSteps} are allowed`,
      'Split it into child blueprints.',
    );
  }

  const expression = (value: unknown, path: string): void => {
    if (!isExpression(value)) return;
    const compiled = compileExpression(value);
    if (!compiled.ok) out.add(path, compiled.error.code, compiled.error.message);
  };
  const template = (value: unknown, path: string): void => {
    const stack: { value: unknown; path: string }[] = [{ value, path }];
    while (stack.length > 0) {
      const item = stack.pop() as { value: unknown; path: string };
      if (typeof item.value === 'string') expression(item.value, item.path);
      else if (Array.isArray(item.value))
        item.value.forEach((v, i) => stack.push({ value: v, path: child(item.path, i) }));
      else if (isRecord(item.value))
        for (const k of Object.keys(item.value))
          stack.push({ value: own(item.value, k), path: child(item.path, k) });
    }
  };

  const firstPath = new Map<string, string>();
  for (const list of lists) {
    for (const step of list.steps) {
      if (step.id === undefined) continue;
      const earlier = firstPath.get(step.id);
      if (earlier === undefined) firstPath.set(step.id, step.path);
      else
        out.add(
          child(step.path, 'id'),
          'duplicate_id',
          `step id "${step.id}" is already used at ${earlier}`,
          'Step ids must be unique in the whole blueprint, nested lists included.',
        );
    }
  }

  for (const list of lists) {
    const ids = new Set(list.steps.map((s) => s.id).filter((id): id is string => id !== undefined));
    list.steps.forEach((step) => {
      const s = step.value;
      const dependsOn = own(s, 'dependsOn');
      if (Array.isArray(dependsOn)) {
        dependsOn.forEach((dep, k) => {
          const at = child(child(step.path, 'dependsOn'), k);
          if (!isName(dep)) return;
          if (dep === step.id) out.add(at, 'self_dependency', `step "${dep}" depends on itself`);
          else if (!ids.has(dep)) {
            const elsewhere = firstPath.get(dep);
            out.add(
              at,
              'unknown_dependency',
              elsewhere === undefined
                ? `dependsOn names "${dep}", which is not a step of this list`
                : `dependsOn names "${dep}", which is not in this list (it is at ${elsewhere})`,
              list.mapItem
                ? 'The step of a map runs once per item and cannot depend on other steps.'
                : `dependsOn may name only steps of the same list${ids.size > 0 ? `: ${[...ids].join(', ')}` : ''}.`,
            );
          }
        });
      }
      for (const { key, route } of rawRoutes(own(s, 'onError'))) {
        const at =
          key === undefined ? child(step.path, 'onError') : child(child(step.path, 'onError'), key);
        if (!isName(route) || !isJump(route)) continue;
        if (route === step.id)
          out.add(
            at,
            'unknown_on_error_target',
            `onError of step "${route}" jumps to the step itself`,
            'Use maxAttempts for retries; onError jumps to another step of the same list.',
          );
        else if (!ids.has(route)) {
          const guess = closest(route, ['fail', 'continue', ...ids]);
          out.add(
            at,
            'unknown_on_error_target',
            `onError${key === undefined ? '' : ` for code "${key}"`} is "${route}", which is neither "fail", "continue" nor a step of this list`,
            guess !== undefined
              ? `Did you mean "${guess}"?`
              : 'It must be "fail", "continue" or the id of a step in the same list.',
          );
        }
      }
      expression(own(s, 'if'), child(step.path, 'if'));
      const type = own(s, 'type');
      switch (type) {
        case 'activity':
          expression(own(s, 'activity'), child(step.path, 'activity'));
          template(own(s, 'input'), child(step.path, 'input'));
          break;
        case 'condition':
          expression(own(s, 'when'), child(step.path, 'when'));
          break;
        case 'wait': {
          expression(own(s, 'when'), child(step.path, 'when'));
          const signal = own(s, 'signal') !== undefined;
          const when = own(s, 'when') !== undefined;
          if (signal === when)
            out.add(
              step.path,
              'wait_signal_or_when',
              signal
                ? 'a wait step gives both signal and when'
                : 'a wait step gives neither signal nor when',
              'Give "signal" to wait for one signal, or "when" to wait until an expression over $signals and $data holds.',
            );
          break;
        }
        case 'parallel': {
          const completion = own(s, 'completion');
          const branches = own(s, 'branches');
          const atLeast = isRecord(completion) ? own(completion, 'atLeast') : undefined;
          if (typeof atLeast === 'number' && Array.isArray(branches) && atLeast > branches.length)
            out.add(
              child(child(step.path, 'completion'), 'atLeast'),
              'invalid_completion',
              `completion needs at least ${atLeast} branches to succeed, but the step has ${branches.length}`,
              `Give "atLeast" a number from 1 to ${branches.length}.`,
            );
          break;
        }
        case 'switch':
          expression(own(s, 'on'), child(step.path, 'on'));
          break;
        case 'loop': {
          const hasWhile = own(s, 'while') !== undefined;
          const hasCount = own(s, 'count') !== undefined;
          if (hasWhile && hasCount)
            out.add(
              step.path,
              'loop_count_and_while',
              'a loop has either count or while, not both',
            );
          if (hasWhile && own(s, 'maxIterations') === undefined) {
            out.add(
              step.path,
              'while_without_max',
              'a while loop needs maxIterations',
              'Add "maxIterations": the most iterations the loop may run before it fails with max_iterations.',
            );
          }
          if (!hasWhile && !hasCount) out.add(step.path, 'schema', 'a loop needs count or while');
          expression(own(s, 'while'), child(step.path, 'while'));
          expression(own(s, 'count'), child(step.path, 'count'));
          break;
        }
        case 'map': {
          expression(own(s, 'over'), child(step.path, 'over'));
          if ((own(s, 'step') === undefined) === (own(s, 'steps') === undefined))
            out.add(
              step.path,
              'map_step_or_steps',
              own(s, 'step') === undefined
                ? 'a map step gives neither step nor steps'
                : 'a map step gives both step and steps',
              'Give "step" (one activity or child step per item) or "steps" (a list of steps of any type per item).',
            );
          if (Array.isArray(dependsOn) && dependsOn.length > 1 && own(s, 'over') === undefined) {
            out.add(
              step.path,
              'map_dependencies',
              `map step "${step.id ?? '?'}" depends on ${dependsOn.length} steps and has no "over"`,
              'A map takes at most one dependency unless "over" says which array to map over, e.g. "over": "{% $steps.fetch.items %}".',
            );
          }
          break;
        }
        case 'graph':
          for (const key of ['over', 'node', 'after'])
            expression(own(s, key), child(step.path, key));
          break;
        case 'child': {
          const hasBlueprint = own(s, 'blueprint') !== undefined;
          const byType = own(s, 'byType');
          if (hasBlueprint === (byType !== undefined)) {
            out.add(
              step.path,
              'schema',
              hasBlueprint
                ? 'a child step has either blueprint or byType, not both'
                : 'a child step needs blueprint or byType',
            );
          }
          expression(own(s, 'blueprint'), child(step.path, 'blueprint'));
          if (isRecord(byType))
            expression(own(byType, 'on'), child(child(step.path, 'byType'), 'on'));
          template(own(s, 'input'), child(step.path, 'input'));
          break;
        }
        case 'sleep': {
          const hasDuration = own(s, 'duration') !== undefined;
          const hasUntil = own(s, 'until') !== undefined;
          if (hasDuration === hasUntil) {
            out.add(
              step.path,
              'schema',
              hasDuration
                ? 'a sleep step has either duration or until, not both'
                : 'a sleep step needs duration or until',
            );
          }
          expression(own(s, 'duration'), child(step.path, 'duration'));
          expression(own(s, 'until'), child(step.path, 'until'));
          break;
        }
        case 'fail': {
          const error = own(s, 'error');
          if (isRecord(error)) {
            expression(own(error, 'code'), child(child(step.path, 'error'), 'code'));
            template(own(error, 'message'), child(child(step.path, 'error'), 'message'));
          }
          template(own(s, 'output'), child(step.path, 'output'));
          break;
        }
        case 'succeed':
          template(own(s, 'output'), child(step.path, 'output'));
          break;
        case 'set': {
          const data = own(s, 'data');
          if (isRecord(data))
            for (const key of Object.keys(data))
              template(own(data, key), child(child(step.path, 'data'), key));
          break;
        }
        default:
          break;
      }
    });
    findCycles(list, out);
  }

  template(own(root, 'output'), '$.output');
  declarationDiagnostics(root, out, expression);
};

/** Signals, queries and plugins: unique names (plugin ones prefixed), query expressions. */
const declarationDiagnostics = (
  root: Raw,
  out: Diagnostics,
  expression: (value: unknown, path: string) => void,
): void => {
  const signals = new Map<string, string>();
  const queries = new Map<string, string>(BUILT_IN_QUERIES.map((q) => [q, 'built in']));
  const declare = (names: Map<string, string>, kind: string, name: string, path: string): void => {
    if (name.length > NAME_MAX_LENGTH) {
      out.add(
        path,
        'invalid_name',
        `${kind} name "${name}" is ${name.length} characters long; at most ${NAME_MAX_LENGTH} are allowed`,
        NAME_HINT,
      );
      return;
    }
    const earlier = names.get(name);
    if (earlier === undefined) names.set(name, path);
    else
      out.add(
        path,
        'duplicate_name',
        `${kind} "${name}" is already declared (${earlier === 'built in' ? 'it is a built-in query' : `at ${earlier}`})`,
      );
  };
  const entries = (value: unknown, path: string): { value: unknown; path: string }[] =>
    Array.isArray(value)
      ? (value as readonly unknown[]).map((v, i) => ({ value: v, path: child(path, i) }))
      : [];

  for (const { value, path } of entries(own(root, 'signals'), '$.signals')) {
    if (isRecord(value) && isName(own(value, 'name')))
      declare(signals, 'signal', own(value, 'name') as string, child(path, 'name'));
  }
  for (const { value, path } of entries(own(root, 'queries'), '$.queries')) {
    if (!isRecord(value)) continue;
    if (isName(own(value, 'name')))
      declare(queries, 'query', own(value, 'name') as string, child(path, 'name'));
    expression(own(value, 'expr'), child(path, 'expr'));
  }
  for (const { value: plugin, path } of entries(own(root, 'plugins'), '$.plugins')) {
    if (!isRecord(plugin)) continue;
    const prefix = own(plugin, 'name');
    for (const [key, names, kind] of [
      ['signals', signals, 'signal'],
      ['queries', queries, 'query'],
    ] as const) {
      for (const entry of entries(own(plugin, key), child(path, key))) {
        const declared = isRecord(entry.value) ? own(entry.value, 'name') : entry.value;
        const at = isRecord(entry.value) ? child(entry.path, 'name') : entry.path;
        if (isRecord(entry.value) && kind === 'query')
          expression(own(entry.value, 'expr'), child(entry.path, 'expr'));
        if (isName(prefix) && isName(declared))
          declare(names, `plugin ${kind}`, `${prefix}_${declared}`, at);
      }
    }
  }
};
