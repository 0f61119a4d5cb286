import { readFile } from 'node:fs/promises';
import { argv } from 'node:process';

/**
 * `node bench/profile.ts FILE.cpuprofile [--top N]`: where a V8 CPU profile (from
 * `npm run bench -- --profile DIR`, or `node --cpu-prof`) spends its time. Prints the self time
 * by module (a package under node_modules, a file of src/, or node's internals) and the top
 * functions by self time, and, for weft's own functions, their inclusive (total) time.
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const moduleOf = (url: string): string => {
  if (url === '') return '(vm)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  const src = /\/(src|bench|test)\/(.*)$/.exec(url);
  if (src?.[1] !== undefined && src[2] !== undefined) return `${src[1]}/${src[2]}`;
  if (url.startsWith('node:')) return 'node internals';
  return url;
};

const frameOf = (f: CallFrame): string =>
  `${f.functionName === '' ? '(anonymous)' : f.functionName} ${moduleOf(f.url)}:${f.lineNumber + 1}`;

const main = async (): Promise<void> => {
  const file = argv[2];
  if (file === undefined) throw new Error('usage: node bench/profile.ts FILE.cpuprofile [--top N]');
  const topIndex = argv.indexOf('--top');
  const top = topIndex > 0 ? Number(argv[topIndex + 1] ?? 25) : 25;
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Self time per node, in µs: each sample's delta is charged to the node it hit.
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self.entries()]
    .filter(([id]) => ['(idle)', '(program)', '(garbage collector)'].includes(byId.get(id)?.callFrame.functionName ?? ''))
    .map(([id, us]) => [byId.get(id)?.callFrame.functionName ?? '', us] as const);

  const add = (map: Map<string, number>, key: string, us: number): void => {
    map.set(key, (map.get(key) ?? 0) + us);
  };
  const modules = new Map<string, number>();
  const functions = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    add(modules, moduleOf(node.callFrame.url), us);
    add(functions, frameOf(node.callFrame), us);
    // Inclusive time of weft's own functions: charge every distinct src/ frame on the stack once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame === undefined || !/\/src\//.test(frame.url)) continue;
      const key = frameOf(frame);
      if (!seen.has(key)) {
        seen.add(key);
        add(inclusive, key, us);
      }
    }
  }
  const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const print = (title: string, map: Map<string, number>): void => {
    process.stdout.write(`\n${title}\n`);
    for (const [key, us] of [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${ms(us)} ${pct(us)}  ${key}\n`);
    }
  };
  process.stdout.write(`${file}: ${(total / 1000).toFixed(0)} ms sampled\n`);
  for (const [name, us] of idle) process.stdout.write(`${ms(us)} ${pct(us)}  ${name}\n`);
  print('self time by module', modules);
  print('self time by function', functions);
  print("inclusive time of weft's functions (src/)", inclusive);
};

await main();
