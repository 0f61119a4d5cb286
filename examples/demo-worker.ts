// `weft worker examples/demo-worker.ts` serves the demo activities that `weft dev` runs in-process.
export { activities } from 'weft/demo';
