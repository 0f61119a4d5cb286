import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import { runEnded, startStack, type HistoryEvent, type Stack } from '../support/weft.ts';

/**
 * A corpus of blueprints written for everyday tasks, each run on a real runtime, worker and
 * nats-server with an exact expected ending: status, output and (for a failed run) error, and
 * where it matters whether the run unwound, the activities it ran in order, and its queries. The
 * blueprints use the language as README "Blueprints" describes it (the step table, "Containers
 * own their inside", "Error codes", "Race and quorum", "Ending a run on purpose", "Compensation
 * and finally", `$progress`), and the test worker's activities (test/support/activities.ts):
 * `quote` (`{vendor, price}` after `ms`), `book` (`{item, ref, attempt}`, failing with the code
 * `fail` below attempt `okFrom`), `page`, `echo` (`{step, got}`). To add a case, add an entry to
 * `corpus`.
 */

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

interface Entry {
  /** Unique: the run's id is `corpus-<name>`. */
  readonly name: string;
  readonly blueprint: { readonly name: string; readonly [field: string]: Json };
  readonly input?: Json;
  /** Signals sent to the run right after its start. */
  readonly signals?: readonly { readonly name: string; readonly payload: Json }[];
  /**
   * Cancel the run with this reason once it waits for a signal (`get_status`'s `waitingFor` is not
   * empty), after the signals above.
   */
  readonly cancel?: string;
  readonly expect: {
    readonly status: 'completed' | 'failed' | 'cancelled' | 'timed_out';
    /** The summary's `output`; absent: the run has none. */
    readonly output?: Json;
    /** The summary's `error`; absent: the run has none. */
    readonly error?: Json;
    /** The summary's `compensated` (the run unwound); absent: it did not. */
    readonly compensated?: boolean;
    /** The summary's `cleanupErrors`; absent: none failed. */
    readonly cleanupErrors?: Json;
    /**
     * The activity steps that completed, in order, each `[stepId, output]` (the run's history:
     * its `StepCompleted` events, a map's or graph's items aside). Only for runs that do one
     * thing at a time.
     */
    readonly ran?: readonly (readonly [string, Json])[];
    /** Declared queries asked after the end, by name, and their values. */
    readonly queries?: { readonly [name: string]: Json };
    /** The run ends within this long of its start (the work it stopped would have taken longer). */
    readonly withinMs?: number;
  };
}

// ---- Blueprints --------------------------------------------------------------------------------

/** A race: ask two hotels, take the first answer (the slower one is stopped). */
const fastestQuote = {
  name: 'fastest_quote',
  steps: [
    {
      id: 'fastest',
      type: 'parallel',
      completion: 'first',
      branches: [
        [
          {
            id: 'grand_hotel',
            type: 'activity',
            activity: 'quote',
            // Slow: the race is won by city_inn unless city_inn fails.
            input:
              "{% {'vendor': 'grand_hotel', 'price': 120, 'ms': $input.cityInnFails ? 300 : 5000} %}",
            timeout: '1m',
          },
        ],
        [
          {
            id: 'city_inn',
            type: 'activity',
            activity: 'quote',
            input:
              "{% {'vendor': 'city_inn', 'price': 95, 'fail': $input.cityInnFails, 'terminal': true} %}",
          },
        ],
      ],
    },
    {
      id: 'offer',
      type: 'set',
      data: {
        vendor: '{% $steps.fastest.vendor %}',
        total: '{% $steps.fastest.price * $input.nights %}',
      },
    },
  ],
} as const;

/** A quorum: three carriers quote, two answers are enough; the cheapest answer wins. */
const cheapestQuote = {
  name: 'cheapest_quote',
  steps: [
    {
      id: 'quotes',
      type: 'parallel',
      completion: { atLeast: 2 },
      branches: [
        [
          {
            id: 'acme',
            type: 'activity',
            activity: 'quote',
            input:
              "{% {'vendor': 'acme', 'price': 120, 'fail': $input.down.acme, 'terminal': true} %}",
          },
        ],
        [
          {
            id: 'zenith',
            type: 'activity',
            activity: 'quote',
            input:
              "{% {'vendor': 'zenith', 'price': 135, 'fail': $input.down.zenith, 'terminal': true} %}",
          },
        ],
        [
          {
            id: 'orbit',
            type: 'activity',
            activity: 'quote',
            input:
              "{% {'vendor': 'orbit', 'price': 99, 'fail': $input.down.orbit, 'terminal': true} %}",
          },
        ],
      ],
    },
    {
      id: 'pick',
      type: 'set',
      data: {
        best: '{% $min($steps.quotes.price) %}',
        answered: '{% $count($steps.quotes[$ != null]) %}',
      },
    },
  ],
  output: "{% {'quotes': $steps.quotes, 'best': $data.best, 'answered': $data.answered} %}",
} as const;

/**
 * Coded errors: a declined card is never retried and goes to `tell_customer`; anything else is
 * retried, then the order ships anyway (the charge is settled later).
 */
const checkout = {
  name: 'checkout',
  steps: [
    {
      id: 'charge',
      type: 'activity',
      activity: 'book',
      input:
        "{% {'item': 'card ' & $input.card, 'fail': $input.fail, 'okFrom': $input.okFrom, 'terminal': $input.terminal} %}",
      maxAttempts: 3,
      backoff: { initial: '10ms' },
      nonRetryable: ['card_declined'],
      onError: { card_declined: 'tell_customer', default: 'continue' },
    },
    {
      id: 'ship',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'parcel ' & $input.order} %}",
    },
    {
      id: 'tell_customer',
      type: 'set',
      data: { notice: "{% 'payment failed: ' & $error.code %}" },
    },
  ],
  output:
    "{% {'charged': $steps.charge.ref, 'attempt': $steps.charge.attempt, 'chargeError': $steps.charge.error.code, 'retryable': $steps.charge.error.retryable, 'shipped': $steps.ship.ref, 'notice': $data.notice} %}",
} as const;

/**
 * `nonRetryable` and retries from `defaults`; an expired card asks for a new one, other codes
 * fail the run once the attempts are spent.
 */
const renewSubscription = {
  name: 'renew_subscription',
  defaults: { maxAttempts: 4, backoff: { initial: '10ms' }, nonRetryable: ['card_expired'] },
  steps: [
    {
      id: 'renew',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'plan ' & $input.plan, 'fail': $input.fail, 'okFrom': $input.okFrom} %}",
      onError: { card_expired: 'ask_new_card', default: 'fail' },
    },
    {
      id: 'ask_new_card',
      type: 'set',
      data: { ask: "{% 'update your card (' & $error.code & ')' %}" },
    },
  ],
  output: "{% {'renewed': $steps.renew.ref, 'attempt': $steps.renew.attempt, 'ask': $data.ask} %}",
} as const;

/** A deadline on a polling loop: give up after 700 ms and say so. */
const waitForReport = {
  name: 'wait_for_report',
  steps: [
    {
      id: 'poll',
      type: 'loop',
      count: 50,
      timeout: '700ms',
      onError: { timeout: 'give_up', default: 'fail' },
      steps: [
        {
          id: 'check',
          type: 'activity',
          activity: 'quote',
          input: { vendor: 'report_service', ms: 200 },
          timeout: '1m',
        },
      ],
    },
    { id: 'publish', type: 'activity', activity: 'book', input: { item: 'report' } },
    {
      id: 'give_up',
      type: 'set',
      data: { status: "{% 'gave up: ' & $error.code %}", why: '{% $error.message %}' },
    },
  ],
  output: "{% {'published': $steps.publish.ref, 'status': $data.status, 'why': $data.why} %}",
} as const;

/** A deadline on a fan-out: whatever has not answered in 1 s is dropped, the run goes on. */
const gatherSources = {
  name: 'gather_sources',
  steps: [
    {
      id: 'gather',
      type: 'parallel',
      timeout: '1s',
      onError: 'continue',
      branches: [
        [
          {
            id: 'archive',
            type: 'activity',
            activity: 'quote',
            input: "{% {'vendor': 'archive', 'price': 1, 'ms': $input.archiveMs} %}",
            timeout: '1m',
          },
        ],
        [{ id: 'live', type: 'activity', activity: 'quote', input: { vendor: 'live', price: 2 } }],
      ],
    },
    {
      id: 'summary',
      type: 'set',
      data: {
        outcome: "{% $exists($steps.gather.error) ? $steps.gather.error.code : 'all answered' %}",
        sources: '{% [$steps.gather.vendor] %}',
      },
    },
  ],
} as const;

/** A deadline on a map: labels not all printed within 1 s go to a handler. */
const printLabels = {
  name: 'print_labels',
  steps: [
    {
      id: 'labels',
      type: 'map',
      over: '{% $input.parcels %}',
      concurrency: 2,
      timeout: '1s',
      onError: { timeout: 'too_slow' },
      step: {
        type: 'activity',
        activity: 'quote',
        input: "{% {'vendor': $item.id, 'price': $index, 'ms': $item.ms} %}",
        timeout: '1m',
      },
    },
    { id: 'send', type: 'set', data: { printed: '{% [$steps.labels.vendor] %}' } },
    { id: 'too_slow', type: 'set', data: { late: "{% 'printer ' & $error.code %}" } },
  ],
  output: "{% {'printed': $data.printed, 'late': $data.late} %}",
} as const;

/** `fail` with a computed code, message and output; big orders need a VIP customer. */
const placeOrder = {
  name: 'place_order',
  steps: [
    { id: 'limits', type: 'set', data: { limit: '{% $input.vip ? 5000 : 1000 %}' } },
    { id: 'totals', type: 'set', data: { total: '{% $sum($input.lines.(qty * price)) %}' } },
    {
      id: 'refuse',
      type: 'fail',
      if: '{% $data.total > $data.limit %}',
      error: {
        code: "{% $data.total > 2 * $data.limit ? 'far_over_limit' : 'over_limit' %}",
        message: "{% 'total ' & $data.total & ' exceeds ' & $data.limit %}",
      },
      output: { total: '{% $data.total %}', limit: '{% $data.limit %}' },
    },
    {
      id: 'reserve',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'order of ' & $data.total} %}",
    },
  ],
} as const;

/** `succeed`: a cache hit ends the run early; a miss asks the vendor. */
const cachedPrice = {
  name: 'cached_price',
  steps: [
    { id: 'look', type: 'activity', activity: 'echo', input: '{% $input.cache %}' },
    {
      id: 'hit',
      type: 'succeed',
      if: '{% $exists($steps.look.got.price) %}',
      output: "{% {'price': $steps.look.got.price, 'source': 'cache'} %}",
    },
    {
      id: 'fetch',
      type: 'activity',
      activity: 'quote',
      input: "{% {'vendor': $input.vendor, 'price': 42} %}",
    },
  ],
  output: "{% {'price': $steps.fetch.price, 'source': 'vendor'} %}",
} as const;

/** `succeed` in one branch ends the run at once; the other branch's long activity is stopped. */
const firstAnswer = {
  name: 'first_answer',
  steps: [
    {
      id: 'both',
      type: 'parallel',
      branches: [
        [
          {
            id: 'deep_search',
            type: 'activity',
            activity: 'quote',
            input: { vendor: 'deep', price: 1, ms: 5000 },
            timeout: '1m',
          },
        ],
        [
          {
            id: 'faq',
            type: 'activity',
            activity: 'quote',
            input: { vendor: 'faq', price: 0 },
          },
          { id: 'answered', type: 'succeed', output: "{% {'answer': $steps.faq.vendor} %}" },
        ],
      ],
    },
  ],
} as const;

/** `set`: totals computed once, used by the steps after. */
const invoiceTotal = {
  name: 'invoice_total',
  steps: [
    {
      id: 'totals',
      type: 'set',
      data: { net: '{% $sum($input.lines.(qty * price)) %}', currency: 'EUR' },
    },
    { id: 'tax', type: 'set', data: { vat: '{% $round($data.net * 0.2, 2) %}' } },
    {
      id: 'invoice',
      type: 'activity',
      activity: 'echo',
      input:
        "{% {'net': $data.net, 'vat': $data.vat, 'gross': $data.net + $data.vat, 'currency': $data.currency, 'totalsStep': $steps.totals} %}",
    },
  ],
} as const;

/** A `while` loop: fetch pages until there is no next one. */
const fetchAllPages = {
  name: 'fetch_all_pages',
  steps: [
    {
      id: 'pages',
      type: 'loop',
      while: '{% $iteration = 0 or $steps.fetch_page.next != null %}',
      maxIterations: 4,
      steps: [
        {
          id: 'fetch_page',
          type: 'activity',
          activity: 'page',
          input:
            "{% {'items': $input.items, 'size': $input.size, 'cursor': $iteration = 0 ? 0 : $steps.fetch_page.next} %}",
        },
      ],
    },
  ],
  output: "{% {'items': [$steps.pages.items], 'pages': $count($steps.pages)} %}",
} as const;

/** A condition: orders over 100 ship express. */
const shipOrder = {
  name: 'ship_order',
  steps: [
    {
      id: 'route',
      type: 'condition',
      when: '{% $input.total > 100 %}',
      then: [
        {
          id: 'express',
          type: 'activity',
          activity: 'book',
          input: "{% {'item': 'express for ' & $input.customer} %}",
        },
      ],
      else: [
        {
          id: 'standard',
          type: 'activity',
          activity: 'book',
          input: "{% {'item': 'standard for ' & $input.customer} %}",
        },
      ],
    },
    {
      id: 'confirm',
      type: 'activity',
      activity: 'echo',
      input:
        "{% {'shipping': $steps.route.item, 'express': $steps.express.ref, 'standard': $steps.standard.ref} %}",
    },
  ],
} as const;

/** A switch: tickets routed by kind, small refunds paid at once (a condition inside a case). */
const handleTicket = {
  name: 'handle_ticket',
  steps: [
    {
      id: 'route',
      type: 'switch',
      on: '{% $input.kind %}',
      cases: {
        bug: [
          {
            id: 'file_bug',
            type: 'activity',
            activity: 'book',
            input: "{% {'item': 'bug ' & $input.title} %}",
          },
        ],
        refund: [
          {
            id: 'check_refund',
            type: 'condition',
            when: '{% $input.amount <= 50 %}',
            then: [{ id: 'auto_refund', type: 'set', data: { refund: '{% $input.amount %}' } }],
            else: [
              {
                id: 'escalate',
                type: 'activity',
                activity: 'echo',
                input: "{% 'refund of ' & $input.amount & ' needs review' %}",
              },
            ],
          },
        ],
      },
      default: [
        { id: 'reply', type: 'set', data: { reply: "{% 'thanks for your ' & $input.kind %}" } },
      ],
    },
  ],
} as const;

/** A map over the input with concurrency: one label per order, in order. */
const labelOrders = {
  name: 'label_orders',
  steps: [
    {
      id: 'labels',
      type: 'map',
      over: '{% $input.orders %}',
      concurrency: 2,
      step: {
        type: 'activity',
        activity: 'book',
        input: "{% {'item': $item.id & '#' & $index} %}",
      },
    },
    {
      id: 'manifest',
      type: 'set',
      data: { refs: '{% [$steps.labels.ref] %}', count: '{% $count($steps.labels) %}' },
    },
  ],
} as const;

/** A map whose items settle one by one: bad rows are reported, good ones kept. */
const importRows = {
  name: 'import_rows',
  steps: [
    {
      id: 'rows',
      type: 'map',
      over: '{% $input.rows %}',
      concurrency: 3,
      step: {
        type: 'activity',
        activity: 'book',
        input:
          "{% {'item': $item.sku, 'fail': $item.qty > 0 ? null : 'bad_quantity', 'terminal': true} %}",
        onError: 'continue',
      },
    },
    {
      id: 'report',
      type: 'set',
      data: {
        imported: '{% [$steps.rows.item] %}',
        rejected: '{% [$steps.rows.error.message] %}',
        codes: '{% [$steps.rows.error.code] %}',
      },
    },
  ],
} as const;

/** `$run`: the run's id, blueprint and start time, the same in every step. */
const stampReport = {
  name: 'stamp_report',
  steps: [
    { id: 'first', type: 'set', data: { at: '{% $run.startedAt %}' } },
    { id: 'work', type: 'activity', activity: 'book', input: { item: 'report' } },
    {
      id: 'stamp',
      type: 'set',
      data: {
        run: '{% $run.id %}',
        blueprint: '{% $run.blueprint %}',
        startedIsString: "{% $type($run.startedAt) = 'string' %}",
        looksLikeTime: '{% $contains($run.startedAt, /^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}/) %}',
        sameAsFirst: '{% $run.startedAt = $data.at %}',
        ref: '{% $steps.work.ref %}',
      },
    },
  ],
} as const;

/** A DAG by `dependsOn`: flight and hotel at once, the car after the flight, then the itinerary. */
const planTrip = {
  name: 'plan_trip',
  steps: [
    {
      id: 'flight',
      type: 'activity',
      activity: 'book',
      dependsOn: [],
      input: "{% {'item': 'flight to ' & $input.city} %}",
    },
    {
      id: 'hotel',
      type: 'activity',
      activity: 'book',
      dependsOn: [],
      input: "{% {'item': 'hotel in ' & $input.city} %}",
    },
    {
      id: 'car',
      type: 'activity',
      activity: 'book',
      dependsOn: ['flight'],
      input: "{% {'item': 'car at ' & $.item} %}",
    },
    { id: 'itinerary', type: 'activity', activity: 'echo', dependsOn: ['hotel', 'car'] },
  ],
} as const;

/** Two independent leaves: the run's output is keyed by leaf id. */
const notifyAll = {
  name: 'notify_all',
  steps: [
    {
      id: 'email',
      type: 'activity',
      activity: 'book',
      dependsOn: [],
      input: "{% {'item': 'mail ' & $input.user} %}",
    },
    {
      id: 'sms',
      type: 'activity',
      activity: 'book',
      dependsOn: [],
      input: "{% {'item': 'sms ' & $input.user} %}",
    },
  ],
} as const;

/** A loop whose `onError: "continue"` catches its body's failure: the import stops at the bad batch. */
const importBatches = {
  name: 'import_batches',
  steps: [
    {
      id: 'batches',
      type: 'loop',
      count: 3,
      onError: 'continue',
      steps: [
        {
          id: 'load',
          type: 'activity',
          activity: 'book',
          input:
            "{% {'item': 'batch ' & $iteration, 'fail': $iteration = $input.badBatch ? 'corrupt_batch' : null, 'terminal': true} %}",
        },
      ],
    },
    {
      id: 'report',
      type: 'set',
      data: {
        loaded: '{% [$steps.batches.ref] %}',
        stopped: "{% $exists($steps.batches.error) ? $steps.batches.error : 'no' %}",
      },
    },
  ],
} as const;

/**
 * Nested containers: a failure deep inside (loop → parallel → switch → activity, none of them
 * catching) is caught by the outer loop's `onError` and routed to `quarantine`.
 */
const syncAccounts = {
  name: 'sync_accounts',
  steps: [
    {
      id: 'rounds',
      type: 'loop',
      count: 2,
      onError: { bad_account: 'quarantine', default: 'fail' },
      steps: [
        {
          id: 'fan',
          type: 'parallel',
          branches: [
            [
              {
                id: 'main',
                type: 'activity',
                activity: 'book',
                input: "{% {'item': 'main ' & $iteration} %}",
              },
            ],
            [
              {
                id: 'by_kind',
                type: 'switch',
                on: '{% $input.kind %}',
                cases: {
                  legacy: [
                    {
                      id: 'migrate',
                      type: 'activity',
                      activity: 'book',
                      input:
                        "{% {'item': 'legacy ' & $iteration, 'fail': $iteration = 1 ? 'bad_account' : null, 'terminal': true} %}",
                    },
                  ],
                },
                default: [{ id: 'nothing', type: 'set', data: { migrated: false } }],
              },
            ],
          ],
        },
      ],
    },
    {
      id: 'done',
      type: 'set',
      data: { rounds: '{% $count($steps.rounds) %}', mains: '{% [$steps.rounds[0].ref] %}' },
    },
    {
      id: 'quarantine',
      type: 'set',
      data: { quarantined: '{% $error.code %}', why: '{% $error.message %}' },
    },
  ],
  output:
    "{% {'rounds': $data.rounds, 'mains': $data.mains, 'quarantined': $data.quarantined, 'why': $data.why} %}",
} as const;

/**
 * Nested containers routing by code: the inner parallel keeps a rate limit to itself
 * (`continue`) and passes any other failure outward (`fail`), where the condition holding it
 * jumps to `report_failure`.
 */
const publishPost = {
  name: 'publish_post',
  steps: [
    {
      id: 'publish',
      type: 'condition',
      when: '{% $input.ready %}',
      onError: { default: 'report_failure' },
      then: [
        {
          id: 'channels',
          type: 'parallel',
          onError: { rate_limited: 'continue', default: 'fail' },
          branches: [
            [{ id: 'site', type: 'activity', activity: 'book', input: { item: 'site' } }],
            [
              {
                id: 'social',
                type: 'activity',
                activity: 'book',
                input: "{% {'item': 'social', 'fail': $input.socialFails, 'terminal': true} %}",
              },
            ],
          ],
        },
      ],
    },
    {
      id: 'announce',
      type: 'set',
      data: {
        sent: '{% [$steps.publish.item] %}',
        skipped: "{% $exists($steps.publish.error) ? $steps.publish.error.code : 'none' %}",
      },
    },
    {
      id: 'report_failure',
      type: 'set',
      data: { failure: "{% $error.code & ': ' & $error.message %}" },
    },
  ],
  output: "{% {'sent': $data.sent, 'skipped': $data.skipped, 'failure': $data.failure} %}",
} as const;

/** A `wait` for a signal with a deadline: no answer in time rejects the expense. */
const approveExpense = {
  name: 'approve_expense',
  steps: [
    {
      id: 'submit',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'expense ' & $input.amount} %}",
    },
    {
      id: 'approval',
      type: 'wait',
      signal: 'approve',
      timeout: '1s',
      onError: { timeout: 'auto_reject' },
    },
    {
      id: 'pay',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'payout of ' & $input.amount & ' by ' & $steps.approval.by} %}",
    },
    { id: 'auto_reject', type: 'set', data: { rejected: "{% 'no answer: ' & $error.code %}" } },
  ],
  output: "{% {'paid': $steps.pay.ref, 'rejected': $data.rejected} %}",
} as const;

/** `sleep` by a duration and until a time computed from `$run.startedAt`. */
const sendReminder = {
  name: 'send_reminder',
  steps: [
    { id: 'nap', type: 'sleep', duration: '50ms' },
    {
      id: 'until_due',
      type: 'sleep',
      until: '{% $fromMillis($toMillis($run.startedAt) + 100) %}',
    },
    {
      id: 'remind',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'reminder for ' & $input.user} %}",
    },
  ],
  output: "{% {'nap': $steps.nap, 'untilDue': $steps.until_due, 'sent': $steps.remind.ref} %}",
} as const;

/** A child blueprint: one customer's invoice; a blocked customer fails it on purpose. */
const invoiceCustomer = {
  name: 'invoice_customer',
  steps: [
    {
      id: 'check',
      type: 'fail',
      if: '{% $input.blocked = true %}',
      error: { code: 'customer_blocked', message: "{% $input.name & ' is blocked' %}" },
    },
    { id: 'amount', type: 'set', data: { due: '{% $sum($input.items) %}' } },
    {
      id: 'send',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'invoice ' & $input.name & ' ' & $data.due} %}",
    },
  ],
} as const;

/** A map of child runs, a failed child settling its item alone. */
const billCustomers = {
  name: 'bill_customers',
  steps: [
    {
      id: 'invoices',
      type: 'map',
      over: '{% $input.customers %}',
      concurrency: 2,
      step: { type: 'child', blueprint: 'invoice_customer', onError: 'continue' },
    },
    {
      id: 'report',
      type: 'set',
      data: {
        sent: '{% [$steps.invoices.ref] %}',
        failed: '{% [$steps.invoices.error] %}',
      },
    },
  ],
} as const;

/** A child blueprint that takes long. */
const expertReview = {
  name: 'expert_review',
  steps: [
    {
      id: 'review',
      type: 'activity',
      activity: 'quote',
      input: { vendor: 'expert', price: 500, ms: 5000 },
      timeout: '1m',
    },
  ],
} as const;

/** A child step's `timeout` bounds the child run (cancelled when it passes). */
const askExpert = {
  name: 'ask_expert',
  steps: [
    {
      id: 'expert',
      type: 'child',
      blueprint: 'expert_review',
      timeout: '300ms',
      onError: 'continue',
    },
    {
      id: 'answer',
      type: 'set',
      data: {
        answer:
          "{% $exists($steps.expert.error) ? 'no time: ' & $steps.expert.error.code : $steps.expert.vendor %}",
      },
    },
  ],
} as const;

/** The whole run has a deadline: it ends `timed_out`. */
const nightlyExport = {
  name: 'nightly_export',
  timeout: '300ms',
  steps: [
    {
      id: 'export',
      type: 'activity',
      activity: 'quote',
      input: { vendor: 'warehouse', ms: 5000 },
      timeout: '1m',
    },
  ],
} as const;

/** An activity no worker serves: `no_worker` after its `scheduleTimeout`, then a fallback. */
const callPartner = {
  name: 'call_partner',
  steps: [
    {
      id: 'partner',
      type: 'activity',
      activity: 'partner_api',
      scheduleTimeout: '200ms',
      maxAttempts: 1,
      onError: 'continue',
    },
    {
      id: 'fallback',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'manual ' & $steps.partner.error.code} %}",
    },
  ],
} as const;

/** A per-attempt `timeout`: a vendor that never answers in time is retried, then skipped. */
const slowVendor = {
  name: 'slow_vendor',
  steps: [
    {
      id: 'ask',
      type: 'activity',
      activity: 'quote',
      input: { vendor: 'sluggish', price: 10, ms: 3000 },
      timeout: '200ms',
      maxAttempts: 2,
      backoff: { initial: '10ms' },
      onError: 'continue',
    },
    {
      id: 'report',
      type: 'set',
      data: { code: '{% $steps.ask.error.code %}', retryable: '{% $steps.ask.error.retryable %}' },
    },
  ],
} as const;

/** A failing expression fails its step (`expression_error`), caught like any failure. */
const parseAmount = {
  name: 'parse_amount',
  steps: [
    {
      id: 'parse',
      type: 'set',
      data: { amount: '{% $number($input.raw) %}' },
      onError: 'continue',
    },
    {
      id: 'report',
      type: 'set',
      data: {
        result:
          '{% $exists($steps.parse.error) ? $steps.parse.error.code : $steps.parse.amount * 100 %}',
      },
    },
  ],
} as const;

/** The activity picked by an expression: internal orders are booked, others quoted. */
const routeRequest = {
  name: 'route_request',
  steps: [
    {
      id: 'handle',
      type: 'activity',
      activity: "{% $input.internal ? 'book' : 'quote' %}",
      input: "{% {'item': $input.what, 'vendor': $input.what, 'price': 7} %}",
    },
  ],
} as const;

/** `succeed` without an output ends the run with the blueprint's `output` as it stands. */
const quickCheck = {
  name: 'quick_check',
  steps: [
    { id: 'mark', type: 'set', data: { checked: '{% $input.item %}' } },
    { id: 'stop', type: 'succeed', if: '{% $input.skipRest %}' },
    { id: 'deep', type: 'activity', activity: 'book', input: "{% {'item': $input.item} %}" },
  ],
  output: "{% {'checked': $data.checked, 'deep': $steps.deep.ref} %}",
} as const;

/** A switch's own `onError: "continue"` catches the failure of its taken case. */
const convertDocument = {
  name: 'convert_document',
  steps: [
    {
      id: 'convert',
      type: 'switch',
      on: '{% $input.format %}',
      onError: 'continue',
      cases: {
        pdf: [
          {
            id: 'extract',
            type: 'activity',
            activity: 'book',
            input:
              "{% {'item': 'text of ' & $input.file, 'fail': $input.corrupt ? 'unreadable' : null, 'terminal': true} %}",
          },
          { id: 'index', type: 'set', data: { indexed: '{% $steps.extract.item %}' } },
        ],
      },
      default: [{ id: 'as_is', type: 'set', data: { indexed: '{% $input.file %}' } }],
    },
    {
      id: 'outcome',
      type: 'set',
      data: {
        result:
          "{% $exists($steps.convert.error) ? 'failed: ' & $steps.convert.error.message : $steps.convert.indexed %}",
      },
    },
  ],
} as const;

/** A map's own `onError` takes its first failing item (the inner step has none) to a handler. */
const resizeImages = {
  name: 'resize_images',
  steps: [
    {
      id: 'resized',
      type: 'map',
      over: '{% $input.images %}',
      concurrency: 1,
      onError: { image_too_large: 'use_originals', default: 'fail' },
      step: {
        type: 'activity',
        activity: 'book',
        input:
          "{% {'item': 'small ' & $item.name, 'fail': $item.mb > 10 ? 'image_too_large' : null, 'terminal': true} %}",
      },
    },
    { id: 'publish', type: 'set', data: { urls: '{% [$steps.resized.ref] %}' } },
    {
      id: 'use_originals',
      type: 'set',
      data: { fallback: "{% $error.code & ': ' & $error.message %}" },
    },
  ],
  output: "{% {'urls': $data.urls, 'fallback': $data.fallback} %}",
} as const;

/** An inner container that catches (a loop's `continue`) keeps its failure from the parallel holding it. */
const checkInventory = {
  name: 'check_inventory',
  steps: [
    {
      id: 'stores',
      type: 'parallel',
      branches: [
        [
          {
            id: 'north',
            type: 'loop',
            count: 3,
            onError: 'continue',
            steps: [
              {
                id: 'shelf',
                type: 'activity',
                activity: 'book',
                input:
                  "{% {'item': 'north shelf ' & $iteration, 'fail': $iteration = 2 ? 'shelf_missing' : null, 'terminal': true} %}",
              },
            ],
          },
        ],
        [
          {
            id: 'south',
            type: 'activity',
            activity: 'book',
            input: { item: 'south' },
          },
        ],
      ],
    },
  ],
} as const;

/** A condition's deadline: moderation that takes too long lets the post through. */
const moderatePost = {
  name: 'moderate_post',
  steps: [
    {
      id: 'moderate',
      type: 'condition',
      when: '{% $input.flagged %}',
      timeout: '300ms',
      onError: { timeout: 'publish_anyway' },
      then: [
        {
          id: 'human_review',
          type: 'activity',
          activity: 'quote',
          input: { vendor: 'moderator', ms: 5000 },
          timeout: '1m',
        },
      ],
      else: [{ id: 'auto_ok', type: 'set', data: { verdict: 'ok' } }],
    },
    {
      id: 'publish',
      type: 'set',
      data: { published: "{% 'verdict ' & $steps.moderate.verdict %}" },
    },
    {
      id: 'publish_anyway',
      type: 'set',
      data: { published: "{% 'unreviewed (' & $error.code & ')' %}" },
    },
  ],
  output: '{% $data.published %}',
} as const;

/** Default inputs: each branch's first step gets the parallel's input, the previous step's output. */
const enrichLead = {
  name: 'enrich_lead',
  steps: [
    { id: 'lead', type: 'activity', activity: 'book', input: "{% {'item': $input.email} %}" },
    {
      id: 'enrich',
      type: 'parallel',
      branches: [
        [{ id: 'company', type: 'activity', activity: 'echo' }],
        [{ id: 'social', type: 'activity', activity: 'echo' }],
      ],
    },
  ],
} as const;

/** An error handler inside a branch: the branch's failure stays in the branch. */
const packOrders = {
  name: 'pack_orders',
  steps: [
    {
      id: 'pack',
      type: 'parallel',
      branches: [
        [
          {
            id: 'fragile',
            type: 'activity',
            activity: 'book',
            input:
              "{% {'item': 'fragile box', 'fail': $input.outOfBubbleWrap ? 'no_bubble_wrap' : null, 'terminal': true} %}",
            onError: 'use_paper',
          },
          { id: 'seal', type: 'activity', activity: 'book', input: { item: 'seal' } },
          {
            id: 'use_paper',
            type: 'set',
            data: { packing: "{% 'paper (' & $error.code & ')' %}" },
          },
        ],
        [{ id: 'sturdy', type: 'activity', activity: 'book', input: { item: 'sturdy box' } }],
      ],
    },
  ],
} as const;

/**
 * Skipped steps are null to the steps after them: an unused error handler, a step whose `if` is
 * false, a step after a failed one.
 */
const auditSkips = {
  name: 'audit_skips',
  steps: [
    {
      id: 'charge',
      type: 'activity',
      activity: 'book',
      input:
        "{% {'item': 'card', 'fail': $input.decline ? 'card_declined' : null, 'terminal': true} %}",
      onError: 'refund',
    },
    { id: 'ship', type: 'activity', activity: 'book', input: { item: 'parcel' } },
    { id: 'refund', type: 'set', data: { refunded: true } },
    { id: 'audit', type: 'set', if: '{% $input.audit %}', data: { audited: true } },
    {
      id: 'route',
      type: 'condition',
      when: '{% $input.express %}',
      then: [{ id: 'express', type: 'set', data: { speed: 'fast' } }],
      else: [{ id: 'standard', type: 'set', data: { speed: 'slow' } }],
    },
    {
      id: 'report',
      type: 'set',
      data: {
        seen: "{% ($k := function($v) { $exists($v) ? $type($v) : 'absent' }; {'charge': $k($steps.charge), 'ship': $k($steps.ship), 'refund': $k($steps.refund), 'audit': $k($steps.audit), 'route': $steps.route.speed}) %}",
      },
    },
  ],
} as const;

/**
 * A saga: flight, hotel, car. When the car cannot be booked, what was booked is undone, the last
 * booked first (the hotel's undoing is two steps), then the customer is told either way.
 */
const bookTrip = {
  name: 'book_trip',
  steps: [
    {
      id: 'flight',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'flight to ' & $input.city} %}",
      compensate: {
        id: 'cancel_flight',
        type: 'activity',
        activity: 'book',
        input:
          "{% {'item': 'cancel ' & $steps.flight.ref, 'fail': $input.airlineDown, 'terminal': true} %}",
      },
    },
    {
      id: 'hotel',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'hotel in ' & $input.city} %}",
      compensate: [
        {
          id: 'cancel_hotel',
          type: 'activity',
          activity: 'book',
          input: "{% {'item': 'cancel ' & $steps.hotel.ref} %}",
        },
        {
          id: 'tell_hotel',
          type: 'activity',
          activity: 'echo',
          input: "{% 'cancelled: ' & $error.message %}",
        },
      ],
    },
    {
      id: 'car',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'car in ' & $input.city, 'fail': $input.carFails, 'terminal': true} %}",
    },
  ],
  finally: [
    {
      id: 'notify',
      type: 'activity',
      activity: 'echo',
      input: "{% {'trip': $input.city, 'problem': $error.code} %}",
    },
  ],
  output: "{% {'flight': $steps.flight.ref, 'hotel': $steps.hotel.ref, 'car': $steps.car.ref} %}",
} as const;

/** Seats held while the customer pays; a customer who walks away (a cancel) gets them released. */
const holdTickets = {
  name: 'hold_tickets',
  steps: [
    {
      id: 'hold',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'seats for ' & $input.show} %}",
      compensate: {
        id: 'release',
        type: 'activity',
        activity: 'book',
        // $error says why the run unwinds: cancelled, or timed_out.
        input: "{% {'item': 'release ' & $steps.hold.ref & ' (' & $error.code & ')'} %}",
      },
    },
    { id: 'payment', type: 'wait', signal: 'paid' },
    {
      id: 'issue',
      type: 'activity',
      activity: 'book',
      input: "{% {'item': 'tickets for ' & $input.show} %}",
    },
  ],
  finally: [
    {
      id: 'log',
      type: 'activity',
      activity: 'echo',
      input: "{% {'show': $input.show, 'paid': $exists($steps.payment)} %}",
    },
  ],
} as const;

/** The same hold with a deadline on the whole run: unpaid after 500 ms, the seats go back. */
const holdTicketsBriefly = { ...holdTickets, name: 'hold_tickets_briefly', timeout: '500ms' };

/** A step undone as often as it ran: two seats reserved in a loop, both freed when the run fails. */
const reserveSeats = {
  name: 'reserve_seats',
  steps: [
    {
      id: 'seats',
      type: 'loop',
      count: 2,
      steps: [
        {
          id: 'seat',
          type: 'activity',
          activity: 'book',
          input: "{% {'item': 'seat ' & $iteration} %}",
          compensate: {
            id: 'free_seat',
            type: 'activity',
            activity: 'book',
            // `$steps.seat` is the seat's latest output.
            input: "{% {'item': 'free ' & $steps.seat.ref & ' (' & $error.code & ')'} %}",
          },
        },
      ],
    },
    {
      id: 'over_limit',
      type: 'fail',
      if: '{% $input.limit < 2 %}',
      error: { code: 'over_limit', message: "{% 'at most ' & $input.limit & ' seat' %}" },
    },
  ],
} as const;

/** A vote: it passes with 3 yes votes, or is given up on when the time is out. */
const countVotes = (timeout: string) =>
  ({
    name: 'count_votes',
    signals: [{ name: 'vote', handler: 'append' }],
    steps: [
      {
        id: 'votes_in',
        type: 'wait',
        when: "{% $count($data.vote[$ = 'yes']) >= 3 %}",
        timeout,
        onError: 'continue',
      },
    ],
    output: "{% {'passed': $steps.votes_in, 'votes': $data.vote} %}",
  }) as const;

/** A `wait` until a condition on `$data` holds, made true by a `set` in another branch. */
const restock = {
  name: 'restock',
  steps: [
    {
      id: 'shelf',
      type: 'parallel',
      branches: [
        [{ id: 'enough', type: 'wait', when: '{% $data.stock >= 2 %}', timeout: '10s' }],
        [
          { id: 'first_crate', type: 'set', data: { stock: 1 } },
          { id: 'second_crate', type: 'set', data: { stock: '{% $data.stock + 1 %}' } },
        ],
      ],
    },
  ],
} as const;

/** How far a map and two loops got, read by a later step and by a declared query. */
const printBadges = {
  name: 'print_badges',
  queries: [{ name: 'how_far', expr: '{% $progress %}' }],
  steps: [
    {
      id: 'badges',
      type: 'map',
      over: '{% $input.people %}',
      concurrency: 2,
      step: {
        type: 'activity',
        activity: 'book',
        input:
          "{% {'item': 'badge ' & $item.name, 'fail': $item.photo ? null : 'no_photo', 'terminal': true} %}",
        onError: 'continue',
      },
    },
    {
      id: 'lanyards',
      type: 'loop',
      count: 2,
      steps: [{ id: 'lanyard', type: 'set', data: { lanyard: '{% $iteration %}' } }],
    },
    {
      id: 'restocks',
      type: 'loop',
      while: '{% $iteration < 3 %}',
      maxIterations: 10,
      steps: [{ id: 'restock_ink', type: 'set', data: { ink: '{% $iteration %}' } }],
    },
    {
      id: 'report',
      type: 'set',
      data: {
        badges: '{% $progress.badges %}',
        lanyards: '{% $progress.lanyards %}',
        restocks: '{% $progress.restocks %}',
      },
    },
  ],
} as const;

/** Dependencies from data: each job runs once the jobs it names are done, with their outputs. */
const buildSite = {
  name: 'build_site',
  steps: [
    {
      id: 'build',
      type: 'graph',
      over: '{% $input.jobs %}',
      node: '{% $item.name %}',
      after: '{% $item.after %}',
      concurrency: 2,
      step: {
        type: 'activity',
        activity: 'book',
        input:
          "{% {'item': $item.name & ($exists($after.*) ? ' after ' & $join($sort($after.*.ref), ' + ') : '')} %}",
      },
    },
  ],
} as const;

/** A race of geocoders: the first answer wins, a failing one drops out. */
const geocode = {
  name: 'geocode',
  steps: [
    {
      id: 'located',
      type: 'parallel',
      completion: 'first',
      branches: [
        [
          {
            id: 'fastmap',
            type: 'activity',
            activity: 'quote',
            input:
              "{% {'vendor': 'fastmap', 'price': 1, 'fail': $input.fastmap, 'terminal': true} %}",
          },
        ],
        [
          {
            id: 'openmap',
            type: 'activity',
            activity: 'quote',
            input:
              "{% {'vendor': 'openmap', 'price': 2, 'ms': 200, 'fail': $input.openmap, 'terminal': true} %}",
          },
        ],
        [
          {
            id: 'slowmap',
            type: 'activity',
            activity: 'quote',
            input:
              "{% {'vendor': 'slowmap', 'price': 3, 'ms': $input.slowMs, 'fail': $input.slowmap, 'terminal': true} %}",
          },
        ],
      ],
    },
  ],
  output: "{% 'by ' & $steps.located.vendor %}",
} as const;

// ---- The corpus --------------------------------------------------------------------------------

const booked = (item: string, attempt = 1) => ({ item, ref: `BK-${item}`, attempt });

/** Per-item sub-flows: for each order, reserve its item, then confirm it with the reservation. */
const fulfilOrders = {
  name: 'fulfil_orders',
  steps: [
    {
      id: 'orders',
      type: 'map',
      over: '{% $input.orders %}',
      concurrency: 2,
      steps: [
        { id: 'reserve', type: 'activity', activity: 'book', input: '{% {"item": $item.sku} %}' },
        {
          id: 'confirm',
          type: 'activity',
          activity: 'echo',
          input: '{% {"order": $item.id, "at": $index, "ref": $steps.reserve.ref} %}',
        },
      ],
    },
  ],
} as const;

/** A group run again as a whole: prepare, then send, which fails its first two calls. */
const resendBatch = {
  name: 'resend_batch',
  steps: [
    {
      id: 'batch',
      type: 'parallel',
      maxAttempts: 3,
      branches: [
        [
          { id: 'prepare', type: 'activity', activity: 'echo', input: 'batch' },
          {
            id: 'send',
            type: 'activity',
            activity: 'fails_first',
            input: '{% {"key": $run.id, "times": $input.failures} %}',
            maxAttempts: 1,
          },
        ],
      ],
      onError: 'continue',
    },
  ],
} as const;

const corpus: readonly Entry[] = [
  {
    name: 'fulfil_orders',
    blueprint: fulfilOrders,
    input: {
      orders: [
        { id: 'o1', sku: 'lamp' },
        { id: 'o2', sku: 'desk' },
        { id: 'o3', sku: 'rug' },
      ],
    },
    expect: {
      status: 'completed',
      output: ['lamp', 'desk', 'rug'].map((sku, at) => ({
        step: 'confirm',
        got: { order: `o${at + 1}`, at, ref: `BK-${sku}` },
      })),
    },
  },
  {
    name: 'resend_batch',
    blueprint: resendBatch,
    input: { failures: 2 },
    expect: { status: 'completed', output: [{ key: 'corpus-resend_batch', calls: 3 }] },
  },
  {
    name: 'resend_batch_gives_up',
    blueprint: resendBatch,
    input: { failures: 5 },
    expect: {
      status: 'completed',
      output: {
        error: {
          code: 'not_yet',
          message: 'call 3 of corpus-resend_batch_gives_up',
          retryable: true,
        },
      },
    },
  },
  {
    name: 'fastest_quote',
    blueprint: fastestQuote,
    input: { nights: 2 },
    expect: { status: 'completed', output: { vendor: 'city_inn', total: 190 }, withinMs: 4000 },
  },
  {
    name: 'fastest_quote_fails_first',
    blueprint: fastestQuote,
    // A branch that fails drops out of the race (as Promise.any): the slower one wins.
    input: { nights: 2, cityInnFails: 'sold_out' },
    expect: { status: 'completed', output: { vendor: 'grand_hotel', total: 240 }, withinMs: 4000 },
  },
  {
    name: 'cheapest_quote',
    blueprint: cheapestQuote,
    input: { down: { zenith: 'vendor_down' } },
    expect: {
      status: 'completed',
      output: {
        quotes: [{ vendor: 'acme', price: 120 }, null, { vendor: 'orbit', price: 99 }],
        best: 99,
        answered: 2,
      },
    },
  },
  {
    name: 'cheapest_quote_no_quorum',
    blueprint: cheapestQuote,
    // quorum_not_met, with each branch's error (null for the one that answered), fails the run.
    input: { down: { zenith: 'vendor_down', orbit: 'rate_limited' } },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message: "step 'quotes' failed: 1 of 3 branches of 'quotes' succeeded; 2 needed",
        stepId: 'quotes',
        details: {
          error: {
            code: 'quorum_not_met',
            message: "1 of 3 branches of 'quotes' succeeded; 2 needed",
            retryable: false,
            details: {
              errors: [
                null,
                { code: 'vendor_down', message: 'zenith: vendor_down', retryable: false },
                { code: 'rate_limited', message: 'orbit: rate_limited', retryable: false },
              ],
            },
          },
        },
      },
    },
  },
  {
    name: 'checkout_card_declined',
    blueprint: checkout,
    // Retried, the charge would succeed on attempt 2: nonRetryable sends it to its route at once.
    input: { card: 'visa', order: 7, fail: 'card_declined', okFrom: 2 },
    expect: {
      status: 'completed',
      output: {
        chargeError: 'card_declined',
        retryable: true,
        notice: 'payment failed: card_declined',
      },
    },
  },
  {
    name: 'checkout_gateway_blip',
    blueprint: checkout,
    input: { card: 'visa', order: 7, fail: 'gateway_down', okFrom: 2 },
    expect: {
      status: 'completed',
      output: { charged: 'BK-card visa', attempt: 2, shipped: 'BK-parcel 7' },
    },
  },
  {
    name: 'checkout_gateway_down',
    blueprint: checkout,
    // Three attempts, then "default": "continue"; the order ships.
    input: { card: 'visa', order: 7, fail: 'gateway_down' },
    expect: {
      status: 'completed',
      output: { chargeError: 'gateway_down', retryable: true, shipped: 'BK-parcel 7' },
    },
  },
  {
    name: 'checkout_fraud',
    blueprint: checkout,
    // A TerminalError is not retried; its code goes to "default".
    input: { card: 'visa', order: 7, fail: 'fraud_suspected', terminal: true },
    expect: {
      status: 'completed',
      output: { chargeError: 'fraud_suspected', retryable: false, shipped: 'BK-parcel 7' },
    },
  },
  {
    name: 'renew_card_expired',
    blueprint: renewSubscription,
    input: { plan: 'pro', fail: 'card_expired', okFrom: 2 },
    expect: { status: 'completed', output: { ask: 'update your card (card_expired)' } },
  },
  {
    name: 'renew_after_retries',
    blueprint: renewSubscription,
    input: { plan: 'pro', fail: 'network_blip', okFrom: 4 },
    expect: { status: 'completed', output: { renewed: 'BK-plan pro', attempt: 4 } },
  },
  {
    name: 'renew_gives_up',
    blueprint: renewSubscription,
    input: { plan: 'pro', fail: 'network_blip' },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message: "step 'renew' failed: plan pro: network_blip",
        stepId: 'renew',
        details: {
          error: { code: 'network_blip', message: 'plan pro: network_blip', retryable: true },
        },
      },
    },
  },
  {
    name: 'wait_for_report',
    blueprint: waitForReport,
    expect: {
      status: 'completed',
      output: {
        status: 'gave up: timeout',
        why: "step 'poll' did not finish within its timeout of 700ms",
      },
      withinMs: 8000,
    },
  },
  {
    name: 'gather_sources_late',
    blueprint: gatherSources,
    input: { archiveMs: 5000 },
    expect: { status: 'completed', output: { outcome: 'timeout', sources: [] }, withinMs: 4000 },
  },
  {
    name: 'gather_sources_in_time',
    blueprint: gatherSources,
    input: { archiveMs: 10 },
    expect: {
      status: 'completed',
      output: { outcome: 'all answered', sources: ['archive', 'live'] },
    },
  },
  {
    name: 'print_labels_late',
    blueprint: printLabels,
    input: {
      parcels: [
        { id: 'p1', ms: 10 },
        { id: 'p2', ms: 5000 },
        { id: 'p3', ms: 10 },
      ],
    },
    expect: { status: 'completed', output: { late: 'printer timeout' }, withinMs: 4000 },
  },
  {
    name: 'print_labels_in_time',
    blueprint: printLabels,
    input: {
      parcels: [
        { id: 'p1', ms: 10 },
        { id: 'p2', ms: 10 },
        { id: 'p3', ms: 10 },
      ],
    },
    expect: { status: 'completed', output: { printed: ['p1', 'p2', 'p3'] } },
  },
  {
    name: 'place_order_over_limit',
    blueprint: placeOrder,
    input: {
      lines: [
        { qty: 3, price: 400 },
        { qty: 1, price: 300 },
      ],
    },
    expect: {
      status: 'failed',
      output: { total: 1500, limit: 1000 },
      error: { code: 'over_limit', message: 'total 1500 exceeds 1000', stepId: 'refuse' },
    },
  },
  {
    name: 'place_order_far_over_limit',
    blueprint: placeOrder,
    input: { lines: [{ qty: 10, price: 350 }] },
    expect: {
      status: 'failed',
      output: { total: 3500, limit: 1000 },
      error: { code: 'far_over_limit', message: 'total 3500 exceeds 1000', stepId: 'refuse' },
    },
  },
  {
    name: 'place_order_vip',
    blueprint: placeOrder,
    input: {
      vip: true,
      lines: [
        { qty: 3, price: 400 },
        { qty: 1, price: 300 },
      ],
    },
    expect: { status: 'completed', output: booked('order of 1500') },
  },
  {
    name: 'cached_price_hit',
    blueprint: cachedPrice,
    input: { vendor: 'acme', cache: { price: 40 } },
    expect: { status: 'completed', output: { price: 40, source: 'cache' } },
  },
  {
    name: 'cached_price_miss',
    blueprint: cachedPrice,
    input: { vendor: 'acme', cache: {} },
    expect: { status: 'completed', output: { price: 42, source: 'vendor' } },
  },
  {
    name: 'first_answer',
    blueprint: firstAnswer,
    expect: { status: 'completed', output: { answer: 'faq' }, withinMs: 4000 },
  },
  {
    name: 'invoice_total',
    blueprint: invoiceTotal,
    input: {
      lines: [
        { qty: 2, price: 10.5 },
        { qty: 1, price: 4 },
      ],
    },
    expect: {
      status: 'completed',
      output: {
        step: 'invoice',
        got: {
          net: 25,
          vat: 5,
          gross: 30,
          currency: 'EUR',
          totalsStep: { net: 25, currency: 'EUR' },
        },
      },
    },
  },
  {
    name: 'fetch_all_pages',
    blueprint: fetchAllPages,
    input: { items: ['a', 'b', 'c', 'd', 'e'], size: 2 },
    expect: { status: 'completed', output: { items: ['a', 'b', 'c', 'd', 'e'], pages: 3 } },
  },
  {
    name: 'fetch_all_pages_too_many',
    blueprint: fetchAllPages,
    input: { items: ['a', 'b', 'c', 'd', 'e'], size: 1 },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message:
          "step 'pages' failed: loop 'pages' reached maxIterations (4) with its condition still true",
        stepId: 'pages',
        details: {
          error: {
            code: 'max_iterations',
            message: "loop 'pages' reached maxIterations (4) with its condition still true",
            retryable: false,
          },
        },
      },
    },
  },
  {
    name: 'ship_order_express',
    blueprint: shipOrder,
    input: { total: 180, customer: 'ada' },
    expect: {
      status: 'completed',
      output: {
        step: 'confirm',
        got: { shipping: 'express for ada', express: 'BK-express for ada' },
      },
    },
  },
  {
    name: 'ship_order_standard',
    blueprint: shipOrder,
    input: { total: 40, customer: 'bob' },
    expect: {
      status: 'completed',
      output: {
        step: 'confirm',
        got: { shipping: 'standard for bob', standard: 'BK-standard for bob' },
      },
    },
  },
  {
    name: 'handle_ticket_bug',
    blueprint: handleTicket,
    input: { kind: 'bug', title: 'login broken' },
    expect: { status: 'completed', output: booked('bug login broken') },
  },
  {
    name: 'handle_ticket_small_refund',
    blueprint: handleTicket,
    input: { kind: 'refund', amount: 30 },
    expect: { status: 'completed', output: { refund: 30 } },
  },
  {
    name: 'handle_ticket_big_refund',
    blueprint: handleTicket,
    input: { kind: 'refund', amount: 80 },
    expect: { status: 'completed', output: { step: 'escalate', got: 'refund of 80 needs review' } },
  },
  {
    name: 'handle_ticket_other',
    blueprint: handleTicket,
    input: { kind: 'praise' },
    expect: { status: 'completed', output: { reply: 'thanks for your praise' } },
  },
  {
    name: 'label_orders',
    blueprint: labelOrders,
    input: { orders: [{ id: 'A1' }, { id: 'B2' }, { id: 'C3' }, { id: 'D4' }, { id: 'E5' }] },
    expect: {
      status: 'completed',
      output: { refs: ['BK-A1#0', 'BK-B2#1', 'BK-C3#2', 'BK-D4#3', 'BK-E5#4'], count: 5 },
    },
  },
  {
    name: 'label_orders_none',
    blueprint: labelOrders,
    input: { orders: [] },
    expect: { status: 'completed', output: { refs: [], count: 0 } },
  },
  {
    name: 'import_rows',
    blueprint: importRows,
    input: {
      rows: [
        { sku: 'mug', qty: 2 },
        { sku: 'cap', qty: 0 },
        { sku: 'tee', qty: 1 },
        { sku: 'pin', qty: -1 },
      ],
    },
    expect: {
      status: 'completed',
      output: {
        imported: ['mug', 'tee'],
        rejected: ['cap: bad_quantity', 'pin: bad_quantity'],
        codes: ['bad_quantity', 'bad_quantity'],
      },
    },
  },
  {
    name: 'stamp_report',
    blueprint: stampReport,
    expect: {
      status: 'completed',
      output: {
        run: 'corpus-stamp_report',
        blueprint: 'stamp_report',
        startedIsString: true,
        looksLikeTime: true,
        sameAsFirst: true,
        ref: 'BK-report',
      },
    },
  },
  {
    name: 'plan_trip',
    blueprint: planTrip,
    input: { city: 'Lyon' },
    expect: {
      status: 'completed',
      output: {
        step: 'itinerary',
        got: { hotel: booked('hotel in Lyon'), car: booked('car at flight to Lyon') },
      },
    },
  },
  {
    name: 'notify_all',
    blueprint: notifyAll,
    input: { user: 'ada' },
    expect: { status: 'completed', output: { email: booked('mail ada'), sms: booked('sms ada') } },
  },
  {
    name: 'import_batches',
    blueprint: importBatches,
    input: { badBatch: null },
    expect: {
      status: 'completed',
      output: { loaded: ['BK-batch 0', 'BK-batch 1', 'BK-batch 2'], stopped: 'no' },
    },
  },
  {
    name: 'import_batches_bad',
    blueprint: importBatches,
    input: { badBatch: 1 },
    expect: {
      status: 'completed',
      output: {
        loaded: [],
        stopped: { message: 'batch 1: corrupt_batch', code: 'corrupt_batch', retryable: false },
      },
    },
  },
  {
    name: 'sync_accounts',
    blueprint: syncAccounts,
    input: { kind: 'modern' },
    expect: { status: 'completed', output: { rounds: 2, mains: ['BK-main 0'] } },
  },
  {
    name: 'sync_accounts_legacy',
    blueprint: syncAccounts,
    input: { kind: 'legacy' },
    expect: {
      status: 'completed',
      output: { quarantined: 'bad_account', why: 'legacy 1: bad_account' },
    },
  },
  {
    name: 'publish_post',
    blueprint: publishPost,
    input: { ready: true },
    expect: { status: 'completed', output: { sent: ['site', 'social'], skipped: 'none' } },
  },
  {
    name: 'publish_post_rate_limited',
    blueprint: publishPost,
    input: { ready: true, socialFails: 'rate_limited' },
    expect: { status: 'completed', output: { sent: [], skipped: 'rate_limited' } },
  },
  {
    name: 'publish_post_auth_expired',
    blueprint: publishPost,
    input: { ready: true, socialFails: 'auth_expired' },
    expect: { status: 'completed', output: { failure: 'auth_expired: social: auth_expired' } },
  },
  {
    name: 'approve_expense_approved',
    blueprint: approveExpense,
    input: { amount: 80 },
    signals: [{ name: 'approve', payload: { by: 'maria' } }],
    expect: { status: 'completed', output: { paid: 'BK-payout of 80 by maria' } },
  },
  {
    name: 'approve_expense_unanswered',
    blueprint: approveExpense,
    input: { amount: 80 },
    expect: { status: 'completed', output: { rejected: 'no answer: timeout' } },
  },
  {
    name: 'send_reminder',
    blueprint: sendReminder,
    input: { user: 'ada' },
    expect: {
      status: 'completed',
      output: { nap: null, untilDue: null, sent: 'BK-reminder for ada' },
    },
  },
  {
    name: 'bill_customers',
    blueprint: billCustomers,
    // A failed child fails its item with child_failed (the child's own code is in the message only).
    input: {
      customers: [
        { name: 'ada', items: [10, 5] },
        { name: 'bob', items: [1], blocked: true },
        { name: 'cyd', items: [] },
      ],
    },
    expect: {
      status: 'completed',
      output: {
        sent: ['BK-invoice ada 15', 'BK-invoice cyd 0'],
        failed: [
          {
            code: 'child_failed',
            message: "child run 'corpus-bill_customers-invoices-1-1' failed: bob is blocked",
            retryable: false,
          },
        ],
      },
    },
  },
  {
    name: 'ask_expert',
    blueprint: askExpert,
    expect: { status: 'completed', output: { answer: 'no time: timeout' }, withinMs: 4000 },
  },
  {
    name: 'nightly_export',
    blueprint: nightlyExport,
    expect: {
      status: 'timed_out',
      error: { code: 'timed_out', message: "the run's timeout (300 ms) passed before it ended" },
      withinMs: 4000,
    },
  },
  {
    name: 'call_partner',
    blueprint: callPartner,
    expect: { status: 'completed', output: booked('manual no_worker') },
  },
  {
    name: 'slow_vendor',
    blueprint: slowVendor,
    expect: { status: 'completed', output: { code: 'timeout', retryable: true }, withinMs: 4000 },
  },
  {
    name: 'parse_amount',
    blueprint: parseAmount,
    input: { raw: '12.5' },
    expect: { status: 'completed', output: { result: 1250 } },
  },
  {
    name: 'parse_amount_garbage',
    blueprint: parseAmount,
    input: { raw: 'twelve' },
    expect: { status: 'completed', output: { result: 'expression_error' } },
  },
  {
    name: 'label_orders_not_a_list',
    blueprint: labelOrders,
    input: { orders: 'A1' },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message: "step 'labels' failed: map step 'labels' needs an array to map over, got string",
        stepId: 'labels',
        details: {
          error: {
            code: 'map_not_array',
            message: "map step 'labels' needs an array to map over, got string",
            retryable: false,
          },
        },
      },
    },
  },
  {
    name: 'route_request_internal',
    blueprint: routeRequest,
    input: { internal: true, what: 'laptop' },
    expect: { status: 'completed', output: booked('laptop') },
  },
  {
    name: 'route_request_external',
    blueprint: routeRequest,
    input: { internal: false, what: 'laptop' },
    expect: { status: 'completed', output: { vendor: 'laptop', price: 7 } },
  },
  {
    name: 'quick_check_stops',
    blueprint: quickCheck,
    input: { item: 'crate', skipRest: true },
    expect: { status: 'completed', output: { checked: 'crate' } },
  },
  {
    name: 'quick_check_full',
    blueprint: quickCheck,
    input: { item: 'crate', skipRest: false },
    expect: { status: 'completed', output: { checked: 'crate', deep: 'BK-crate' } },
  },
  {
    name: 'convert_document_pdf',
    blueprint: convertDocument,
    input: { format: 'pdf', file: 'a.pdf' },
    expect: { status: 'completed', output: { result: 'text of a.pdf' } },
  },
  {
    name: 'convert_document_corrupt',
    blueprint: convertDocument,
    input: { format: 'pdf', file: 'b.pdf', corrupt: true },
    expect: {
      status: 'completed',
      output: { result: 'failed: text of b.pdf: unreadable' },
    },
  },
  {
    name: 'convert_document_other',
    blueprint: convertDocument,
    input: { format: 'txt', file: 'c.txt' },
    expect: { status: 'completed', output: { result: 'c.txt' } },
  },
  {
    name: 'resize_images',
    blueprint: resizeImages,
    input: {
      images: [
        { name: 'a', mb: 2 },
        { name: 'b', mb: 3 },
      ],
    },
    expect: { status: 'completed', output: { urls: ['BK-small a', 'BK-small b'] } },
  },
  {
    name: 'resize_images_too_large',
    blueprint: resizeImages,
    input: {
      images: [
        { name: 'a', mb: 2 },
        { name: 'b', mb: 30 },
        { name: 'c', mb: 1 },
      ],
    },
    expect: {
      status: 'completed',
      output: { fallback: 'image_too_large: small b: image_too_large' },
    },
  },
  {
    name: 'check_inventory',
    blueprint: checkInventory,
    expect: {
      status: 'completed',
      output: [
        {
          error: {
            message: 'north shelf 2: shelf_missing',
            code: 'shelf_missing',
            retryable: false,
          },
        },
        booked('south'),
      ],
    },
  },
  {
    name: 'moderate_post_flagged',
    blueprint: moderatePost,
    input: { flagged: true },
    expect: { status: 'completed', output: 'unreviewed (timeout)', withinMs: 4000 },
  },
  {
    name: 'moderate_post_clean',
    blueprint: moderatePost,
    input: { flagged: false },
    expect: { status: 'completed', output: 'verdict ok' },
  },
  {
    name: 'enrich_lead',
    blueprint: enrichLead,
    input: { email: 'ada@example.com' },
    expect: {
      status: 'completed',
      output: [
        { step: 'company', got: booked('ada@example.com') },
        { step: 'social', got: booked('ada@example.com') },
      ],
    },
  },
  {
    name: 'pack_orders_short_of_wrap',
    blueprint: packOrders,
    input: { outOfBubbleWrap: true },
    expect: {
      status: 'completed',
      output: [{ packing: 'paper (no_bubble_wrap)' }, booked('sturdy box')],
    },
  },
  {
    name: 'pack_orders',
    blueprint: packOrders,
    // A branch's output is its last step's: here the unused handler's, null.
    input: { outOfBubbleWrap: false },
    expect: { status: 'completed', output: [null, booked('sturdy box')] },
  },
  {
    name: 'audit_skips_declined',
    blueprint: auditSkips,
    input: { decline: true, audit: false, express: false },
    expect: {
      status: 'completed',
      output: {
        seen: {
          charge: 'object',
          ship: 'null',
          refund: 'object',
          audit: 'null',
          route: 'slow',
        },
      },
    },
  },
  {
    name: 'audit_skips_paid',
    blueprint: auditSkips,
    input: { decline: false, audit: true, express: true },
    expect: {
      status: 'completed',
      output: {
        seen: {
          charge: 'object',
          ship: 'object',
          refund: 'null',
          audit: 'object',
          route: 'fast',
        },
      },
    },
  },
  {
    name: 'book_trip_no_car',
    blueprint: bookTrip,
    // Undone last-first (the hotel's two steps in their order), then finally; the run still fails.
    input: { city: 'Oslo', carFails: 'no_cars' },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message: "step 'car' failed: car in Oslo: no_cars",
        stepId: 'car',
        details: { error: { code: 'no_cars', message: 'car in Oslo: no_cars', retryable: false } },
      },
      compensated: true,
      ran: [
        ['flight', booked('flight to Oslo')],
        ['hotel', booked('hotel in Oslo')],
        ['cancel_hotel', booked('cancel BK-hotel in Oslo')],
        [
          'tell_hotel',
          { step: 'tell_hotel', got: "cancelled: step 'car' failed: car in Oslo: no_cars" },
        ],
        ['cancel_flight', booked('cancel BK-flight to Oslo')],
        ['notify', { step: 'notify', got: { trip: 'Oslo', problem: 'step_failed' } }],
      ],
    },
  },
  {
    name: 'book_trip',
    blueprint: bookTrip,
    // Nothing to undo; finally runs all the same, before the end.
    input: { city: 'Oslo' },
    expect: {
      status: 'completed',
      output: { flight: 'BK-flight to Oslo', hotel: 'BK-hotel in Oslo', car: 'BK-car in Oslo' },
      ran: [
        ['flight', booked('flight to Oslo')],
        ['hotel', booked('hotel in Oslo')],
        ['car', booked('car in Oslo')],
        ['notify', { step: 'notify', got: { trip: 'Oslo' } }],
      ],
    },
  },
  {
    name: 'book_trip_airline_down',
    blueprint: bookTrip,
    // A compensation that fails does not stop the others; the end records it and keeps its status.
    input: { city: 'Oslo', carFails: 'no_cars', airlineDown: 'airline_down' },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message: "step 'car' failed: car in Oslo: no_cars",
        stepId: 'car',
        details: { error: { code: 'no_cars', message: 'car in Oslo: no_cars', retryable: false } },
      },
      compensated: true,
      cleanupErrors: [
        {
          stepId: 'cancel_flight',
          error: {
            code: 'airline_down',
            message: 'cancel BK-flight to Oslo: airline_down',
            retryable: false,
          },
        },
      ],
      ran: [
        ['flight', booked('flight to Oslo')],
        ['hotel', booked('hotel in Oslo')],
        ['cancel_hotel', booked('cancel BK-hotel in Oslo')],
        [
          'tell_hotel',
          { step: 'tell_hotel', got: "cancelled: step 'car' failed: car in Oslo: no_cars" },
        ],
        ['notify', { step: 'notify', got: { trip: 'Oslo', problem: 'step_failed' } }],
      ],
    },
  },
  {
    name: 'hold_tickets_walked_away',
    blueprint: holdTickets,
    input: { show: 'Hamlet' },
    cancel: 'customer left',
    expect: {
      status: 'cancelled',
      error: { code: 'cancelled', message: 'customer left' },
      compensated: true,
      ran: [
        ['hold', booked('seats for Hamlet')],
        ['release', booked('release BK-seats for Hamlet (cancelled)')],
        ['log', { step: 'log', got: { show: 'Hamlet', paid: false } }],
      ],
    },
  },
  {
    name: 'hold_tickets_briefly',
    blueprint: holdTicketsBriefly,
    input: { show: 'Hamlet' },
    expect: {
      status: 'timed_out',
      error: { code: 'timed_out', message: "the run's timeout (500 ms) passed before it ended" },
      compensated: true,
      ran: [
        ['hold', booked('seats for Hamlet')],
        ['release', booked('release BK-seats for Hamlet (timed_out)')],
        ['log', { step: 'log', got: { show: 'Hamlet', paid: false } }],
      ],
      withinMs: 4000,
    },
  },
  {
    name: 'hold_tickets_paid',
    blueprint: holdTickets,
    input: { show: 'Hamlet' },
    signals: [{ name: 'paid', payload: { amount: 40 } }],
    expect: {
      status: 'completed',
      output: booked('tickets for Hamlet'),
      ran: [
        ['hold', booked('seats for Hamlet')],
        ['issue', booked('tickets for Hamlet')],
        ['log', { step: 'log', got: { show: 'Hamlet', paid: true } }],
      ],
    },
  },
  {
    name: 'reserve_seats_over_limit',
    blueprint: reserveSeats,
    // A `fail` step unwinds too; the seat, reserved twice, is freed twice (its latest output).
    input: { limit: 1 },
    expect: {
      status: 'failed',
      error: { code: 'over_limit', message: 'at most 1 seat', stepId: 'over_limit' },
      compensated: true,
      ran: [
        ['seat', booked('seat 0')],
        ['seat', booked('seat 1')],
        ['free_seat', booked('free BK-seat 1 (over_limit)')],
        ['free_seat', booked('free BK-seat 1 (over_limit)')],
      ],
    },
  },
  {
    name: 'count_votes',
    blueprint: countVotes('10m'),
    signals: [
      { name: 'vote', payload: 'yes' },
      { name: 'vote', payload: 'no' },
      { name: 'vote', payload: 'yes' },
      { name: 'vote', payload: 'yes' },
    ],
    expect: {
      status: 'completed',
      output: { passed: true, votes: ['yes', 'no', 'yes', 'yes'] },
      withinMs: 4000,
    },
  },
  {
    name: 'count_votes_too_few',
    blueprint: countVotes('1s'),
    signals: [
      { name: 'vote', payload: 'yes' },
      { name: 'vote', payload: 'no' },
      { name: 'vote', payload: 'yes' },
    ],
    expect: {
      status: 'completed',
      output: {
        passed: {
          error: {
            code: 'timeout',
            message: "the condition of wait step 'votes_in' did not hold within its timeout",
            retryable: false,
          },
        },
        votes: ['yes', 'no', 'yes'],
      },
      withinMs: 4000,
    },
  },
  {
    name: 'restock',
    blueprint: restock,
    expect: { status: 'completed', output: [true, { stock: 2 }] },
  },
  {
    name: 'print_badges',
    blueprint: printBadges,
    input: {
      people: [
        { name: 'ada', photo: true },
        { name: 'bob', photo: false },
        { name: 'cyd', photo: true },
      ],
    },
    expect: {
      status: 'completed',
      output: {
        badges: { done: 3, failed: 1, total: 3 },
        lanyards: { done: 2, failed: 0, total: 2 },
        restocks: { done: 3, failed: 0, total: null },
      },
      // The same from a query, after the end.
      queries: {
        how_far: {
          badges: { done: 3, failed: 1, total: 3 },
          lanyards: { done: 2, failed: 0, total: 2 },
          restocks: { done: 3, failed: 0, total: null },
        },
      },
    },
  },
  {
    name: 'build_site',
    blueprint: buildSite,
    // Listed in any order: each job runs after the ones it names.
    input: {
      jobs: [
        { name: 'publish', after: ['index', 'thumbs'] },
        { name: 'index', after: ['parse'] },
        { name: 'fetch', after: null },
        { name: 'parse', after: 'fetch' },
        { name: 'thumbs', after: ['fetch'] },
      ],
    },
    expect: {
      status: 'completed',
      output: {
        fetch: booked('fetch'),
        parse: booked('parse after BK-fetch'),
        thumbs: booked('thumbs after BK-fetch'),
        index: booked('index after BK-parse after BK-fetch'),
        publish: booked(
          'publish after BK-index after BK-parse after BK-fetch + BK-thumbs after BK-fetch',
        ),
      },
    },
  },
  {
    name: 'build_site_cycle',
    blueprint: buildSite,
    input: {
      jobs: [
        { name: 'fetch', after: null },
        { name: 'parse', after: ['fetch', 'publish'] },
        { name: 'index', after: 'parse' },
        { name: 'publish', after: 'index' },
      ],
    },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message:
          "step 'build' failed: graph step 'build': its nodes wait on each other: parse → publish → index → parse",
        stepId: 'build',
        details: {
          error: {
            code: 'graph_cycle',
            message:
              "graph step 'build': its nodes wait on each other: parse → publish → index → parse",
            retryable: false,
          },
        },
      },
    },
  },
  {
    name: 'build_site_unknown_job',
    blueprint: buildSite,
    input: {
      jobs: [
        { name: 'fetch', after: null },
        { name: 'parse', after: 'fecth' },
      ],
    },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message:
          "step 'build' failed: graph step 'build': node 'parse' runs after 'fecth', which is no node of it",
        stepId: 'build',
        details: {
          error: {
            code: 'graph_invalid',
            message: "graph step 'build': node 'parse' runs after 'fecth', which is no node of it",
            retryable: false,
          },
        },
      },
    },
  },
  {
    name: 'geocode_fastest_fails',
    blueprint: geocode,
    // fastmap fails at once and drops out; openmap wins; slowmap is stopped.
    input: { fastmap: 'over_quota', slowMs: 5000 },
    expect: { status: 'completed', output: 'by openmap', withinMs: 4000 },
  },
  {
    name: 'geocode_all_fail',
    blueprint: geocode,
    input: { fastmap: 'over_quota', openmap: 'not_found', slowmap: 'not_found', slowMs: 100 },
    expect: {
      status: 'failed',
      error: {
        code: 'step_failed',
        message: "step 'located' failed: 0 of 3 branches of 'located' succeeded; 1 needed",
        stepId: 'located',
        details: {
          error: {
            code: 'quorum_not_met',
            message: "0 of 3 branches of 'located' succeeded; 1 needed",
            retryable: false,
            details: {
              errors: [
                { code: 'over_quota', message: 'fastmap: over_quota', retryable: false },
                { code: 'not_found', message: 'openmap: not_found', retryable: false },
                { code: 'not_found', message: 'slowmap: not_found', retryable: false },
              ],
            },
          },
        },
      },
    },
  },
];

// ---- The runs ----------------------------------------------------------------------------------

let stack: Stack;

/** Blueprints the corpus's `child` steps start, stored before any run. */
const library = [invoiceCustomer, expertReview];

beforeAll(async () => {
  stack = await startStack();
  for (const blueprint of library) await stack.client.call('weft.blueprints.put', { blueprint });
});

afterAll(async () => {
  await stack.stop();
});

describe('corpus', () => {
  it('names every entry once', () => {
    expect(new Set(corpus.map((e) => e.name)).size).toBe(corpus.length);
  });

  it.each(corpus)('$name', async (entry) => {
    const runId = `corpus-${entry.name}`;
    const started = Date.now();
    await stack.client.call('weft.runs.start', {
      blueprint: entry.blueprint,
      runId,
      ...(entry.input === undefined ? {} : { input: entry.input }),
    });
    for (const { name, payload } of entry.signals ?? [])
      await stack.client.call(`weft.runs.${runId}.signal.${name}`, payload);
    if (entry.cancel !== undefined) {
      await waitFor(
        async () => {
          const status = await stack.client.call<{ waitingFor: readonly string[] }>(
            `weft.runs.${runId}.query.get_status`,
          );
          return status.waitingFor.length > 0;
        },
        { message: `run ${runId} waits for a signal` },
      );
      await stack.client.call(`weft.runs.${runId}.cancel`, { reason: entry.cancel });
    }
    const summary = await runEnded(stack.client, runId);
    const elapsed = Date.now() - started;
    expect({
      status: summary.status,
      output: summary.output,
      error: summary.error,
      compensated: summary.compensated,
      cleanupErrors: summary.cleanupErrors,
    }).toEqual({
      status: entry.expect.status,
      output: entry.expect.output,
      error: entry.expect.error,
      compensated: entry.expect.compensated,
      cleanupErrors: entry.expect.cleanupErrors,
    });
    if (entry.expect.withinMs !== undefined) expect(elapsed).toBeLessThan(entry.expect.withinMs);
    if (entry.expect.ran !== undefined) {
      const { events } = await stack.client.call<{ events: readonly HistoryEvent[] }>(
        `weft.runs.${runId}.history`,
      );
      const ran = events
        .filter((e) => e.type === 'StepCompleted' && e.data.item === undefined)
        .map((e) => [e.data.stepId, e.data.output]);
      expect(ran).toEqual(entry.expect.ran);
    }
    for (const [name, value] of Object.entries(entry.expect.queries ?? {}))
      expect(await stack.client.call(`weft.runs.${runId}.query.${name}`), name).toEqual(value);
  });
});
