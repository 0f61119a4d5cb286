/** The NATS server list of `--nats` / `WEFT_NATS_URL`: comma-separated, blanks dropped. */
export const natsServers = (urls: string | readonly string[]): string[] =>
  (typeof urls === 'string' ? urls.split(',') : [...urls])
    .map((s) => s.trim())
    .filter((s) => s !== '');

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
