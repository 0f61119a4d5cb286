/** `weft/runtime`: a weft runtime in your own process (what `weft serve` runs). Needs Node 24. */
export { startRuntime } from './main.ts';
export type { Runtime, RuntimeOptions } from './main.ts';
export type { NatsAuth } from './natsAuth.ts';
