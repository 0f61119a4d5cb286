/**
 * A log that says a repeated complaint once per window: the first line of each kind is written at
 * once; the others of that kind within `windowMs` are counted and summed up in one line when the
 * window ends ("… and 41 more like it in the last 5 s"). For failures that come in bursts, such as
 * every result of a store outage. Not pure: it arms one timer per open window (unref'd, so it
 * never keeps a process alive); `close` writes what is pending and stops.
 */
export class QuietLog {
  readonly #log: (message: string) => void;
  readonly #windowMs: number;
  readonly #windows = new Map<string, { count: number; timer: NodeJS.Timeout; last: string }>();

  constructor(log: (message: string) => void, windowMs = 5000) {
    this.#log = log;
    this.#windowMs = windowMs;
  }

  /** Logs `message` unless a message of the same `kind` was logged within the window. */
  say(kind: string, message: string): void {
    const open = this.#windows.get(kind);
    if (open !== undefined) {
      open.count++;
      open.last = message;
      return;
    }
    this.#log(message);
    const timer = setTimeout(() => this.#end(kind), this.#windowMs);
    timer.unref();
    this.#windows.set(kind, { count: 0, timer, last: message });
  }

  close(): void {
    for (const kind of [...this.#windows.keys()]) this.#end(kind);
  }

  #end(kind: string): void {
    const window = this.#windows.get(kind);
    if (window === undefined) return;
    clearTimeout(window.timer);
    this.#windows.delete(kind);
    if (window.count > 0)
      this.#log(
        `… and ${window.count} more like it in the last ${this.#windowMs / 1000} s (the last: ${window.last})`,
      );
  }
}
