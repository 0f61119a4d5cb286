/**
 * The only place NATS subjects are built. `<p>` is the prefix (`--prefix`, default `weft`).
 *
 *   <p>.blueprints.{put,validate,get,list,delete,schema}
 *                                                     request → reply            (gateway)
 *   <p>.runs.{start,execute,list}                     request → reply / publish  (gateway)
 *   <p>.runs.<runId>.{get,cancel,history}             request → reply            (gateway)
 *   <p>.runs.<runId>.signal.<name>                    request or publish         (gateway)
 *   <p>.runs.<runId>.query.<name>                     request → reply            (gateway)
 *   <p>.runs.<runId>.events                           published by weft, one message per event
 *   <p>.tasks.exec.<activity>.<runId>.<task>.<attempt>
 *                                                     JetStream stream <P>_TASKS (work queue): runtime → workers;
 *                                                     one subject per attempt (`<task>`: the task id after
 *                                                     `<runId>:`), so the runtime can look an attempt up and
 *                                                     purge an ended run's tasks by subject
 *   <p>.tasks.result.<runId>                          JetStream stream <P>_RESULTS (work queue): workers → runtime
 *   <p>.tasks.report.<runId>                          core request → reply: a result handed straight to a runtime,
 *                                                     answered once recorded (the stream is the fallback)
 *   <p>.tasks.cancel                                  core NATS broadcast {taskId}: abort a task of a cancelled run
 *   <p>.tasks.start.<runId>                           core request → reply: may this attempt still run?
 *   <p>.activities.list                               request → reply            (gateway)
 *   <p>.workers.announce                              core NATS, worker → every runtime: the activities it serves,
 *                                                     at start, every heartbeat and when asked (a heartbeat)
 *   <p>.workers.goodbye                               core NATS, worker → every runtime {workerId}: it stops serving
 *   <p>.workers.discover                              core NATS, runtime → every worker: announce yourselves now
 *   <p>.runtime.<runtimeId>.call                      core request → reply, between runtimes: a call for a run
 *                                                     forwarded to the runtime owning its partition
 *   KV bucket <P>_PARTITIONS                           partition leases (`partition.<n>`) and runtime heartbeats
 *                                                     (`runtime.<id>`), both expiring with the bucket's TTL
 *
 * Every dynamic token is checked against its rule before it is placed in a subject, so no user
 * input can add tokens or wildcards (`.`, `*`, `>`, whitespace).
 */

import { NAME, RUN_ID } from '../blueprints/names.ts';

export { NAME, RUN_ID };
export const PREFIX = /^[A-Za-z0-9_-]{1,32}$/;
/** A task id without its run id: `<stepId>[<item>]:<execution>` (one subject token). */
const TASK_TOKEN = /^[A-Za-z0-9_[\]:-]{1,128}$/;
const ATTEMPT = /^[1-9][0-9]{0,8}$/;
/** A runtime's id (`WEFT_RUNTIME_ID`): one subject token and one key token of the leases bucket. */
export const RUNTIME_ID = /^[A-Za-z0-9_-]{1,64}$/;

const check = (rule: RegExp, what: string, value: string): string => {
  if (!rule.test(value)) throw new Error(`invalid ${what}: ${JSON.stringify(value)}`);
  return value;
};

export class Subjects {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = check(PREFIX, 'subject prefix', prefix);
  }

  blueprints(verb: 'put' | 'validate' | 'get' | 'list' | 'delete' | 'schema'): string {
    return `${this.prefix}.blueprints.${verb}`;
  }

  runs(verb: 'start' | 'execute' | 'list'): string {
    return `${this.prefix}.runs.${verb}`;
  }

  /** `runId` may be `*` to subscribe for every run. */
  run(runId: string, verb: 'get' | 'cancel' | 'history' | 'events'): string {
    return `${this.prefix}.runs.${runId === '*' ? '*' : check(RUN_ID, 'run id', runId)}.${verb}`;
  }

  signal(runId: string, name: string): string {
    return `${this.prefix}.runs.${check(RUN_ID, 'run id', runId)}.signal.${check(NAME, 'signal name', name)}`;
  }

  query(runId: string, name: string): string {
    return `${this.prefix}.runs.${check(RUN_ID, 'run id', runId)}.query.${check(NAME, 'query name', name)}`;
  }

  /** Wildcard subscriptions of the gateway for per-run verbs with a name. */
  runNamed(verb: 'signal' | 'query'): string {
    return `${this.prefix}.runs.*.${verb}.*`;
  }

  /** The run id token of a per-run subject (`<p>.runs.<runId>.…`), or undefined. */
  runIdOf(subject: string): string | undefined {
    const tokens = subject.split('.');
    const runId = tokens[this.prefix.split('.').length + 1];
    return runId !== undefined && RUN_ID.test(runId) ? runId : undefined;
  }

  /** The last token of a subject (a signal or query name), checked. */
  lastNameOf(subject: string): string | undefined {
    const name = subject.slice(subject.lastIndexOf('.') + 1);
    return NAME.test(name) ? name : undefined;
  }

  activities(verb: 'list'): string {
    return `${this.prefix}.activities.${verb}`;
  }

  /** Core NATS subjects of worker presence (not in a queue group: every runtime hears each one). */
  workers(verb: 'announce' | 'goodbye' | 'discover'): string {
    return `${this.prefix}.workers.${verb}`;
  }

  /** The subject of one attempt of a task (see the header). */
  task(task: {
    readonly activity: string;
    readonly runId: string;
    readonly taskId: string;
    readonly attempt: number;
  }): string {
    const runId = check(RUN_ID, 'run id', task.runId);
    const local = task.taskId.startsWith(`${runId}:`)
      ? task.taskId.slice(runId.length + 1)
      : task.taskId;
    return `${this.activityTasks(task.activity).slice(0, -1)}${runId}.${check(TASK_TOKEN, 'task id', local)}.${check(ATTEMPT, 'attempt', String(task.attempt))}`;
  }

  /** Every task of one activity: the filter of its consumer. */
  activityTasks(activity: string): string {
    return `${this.prefix}.tasks.exec.${check(NAME, 'activity name', activity)}.>`;
  }

  /** Every task of one run, whatever its activity: purged when the run ends. */
  runTasks(runId: string): string {
    return `${this.prefix}.tasks.exec.*.${check(RUN_ID, 'run id', runId)}.>`;
  }

  /** Core NATS, outside the streams: a new attempt offered to the activity's workers (one queue group). */
  taskOffer(activity: string): string {
    return `${this.prefix}.tasks.offer.${check(NAME, 'activity name', activity)}`;
  }

  /**
   * Core NATS, every worker (no queue group): a runtime asks which of some attempts a worker is
   * running (taken directly, so in no stream), before it dispatches them again.
   */
  tasksHeld(): string {
    return `${this.prefix}.tasks.held`;
  }

  /** Core NATS: a worker asks whether an attempt is still open before running a stale task. */
  taskStart(runId: string): string {
    return `${this.prefix}.tasks.start.${check(RUN_ID, 'run id', runId)}`;
  }

  taskStartsAll(): string {
    return `${this.prefix}.tasks.start.>`;
  }

  tasksAll(): string {
    return `${this.prefix}.tasks.exec.>`;
  }

  result(runId: string): string {
    return `${this.prefix}.tasks.result.${check(RUN_ID, 'run id', runId)}`;
  }

  /** Core NATS, outside both streams: a worker's result offered directly to a runtime. */
  report(runId: string): string {
    return `${this.prefix}.tasks.report.${check(RUN_ID, 'run id', runId)}`;
  }

  reportsAll(): string {
    return `${this.prefix}.tasks.report.>`;
  }

  taskCancel(): string {
    return `${this.prefix}.tasks.cancel`;
  }

  resultsAll(): string {
    return `${this.prefix}.tasks.result.>`;
  }

  /** Core NATS, runtime → runtime: calls for runs forwarded to the runtime that owns them. */
  runtimeCall(runtimeId: string): string {
    return `${this.prefix}.runtime.${check(RUNTIME_ID, 'runtime id', runtimeId)}.call`;
  }

  /** JetStream stream and consumer names (no dots allowed there). */
  get tasksStream(): string {
    return `${this.prefix.toUpperCase().replace(/-/g, '_')}_TASKS`;
  }

  get resultsStream(): string {
    return `${this.prefix.toUpperCase().replace(/-/g, '_')}_RESULTS`;
  }

  /** The JetStream key-value bucket of partition leases and runtime heartbeats (`<P>_PARTITIONS`). */
  get partitionsBucket(): string {
    return `${this.prefix.toUpperCase().replace(/-/g, '_')}_PARTITIONS`;
  }

  activityConsumer(activity: string): string {
    return `activity_${check(NAME, 'activity name', activity)}`;
  }

  readonly resultsConsumer = 'runtime';
}
