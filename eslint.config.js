// @ts-check
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Rooms that must stay pure: no I/O, no clock, no randomness (README "How it is built"). */
const PURE_ROOMS = [
  'src/blueprints/**/*.ts',
  'src/machines/**/*.ts',
  'src/projections/**/*.ts',
  'src/expressions/**/*.ts',
  'src/wire/**/*.ts',
];

/** Plain-JS files that are type-checked through the project service's default project. */
const TYPED_JS = ['eslint.config.js', 'bin/*.js', 'scripts/*.mjs'];

export default defineConfig(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.weft/**', '.scratch/**'],
  },
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // tsconfig.json covers the .ts files; these plain-JS entry points are outside it
        // (no allowJs) and get the default project, which uses the same compiler options.
        projectService: {
          allowDefaultProject: TYPED_JS,
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unsafe-argument': 'error',
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-member-access': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      // `(x) => resolve(x)` and `() => void work()` callbacks are clear enough.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // `while (true)` with an exit inside is the clearest way to write a poll loop.
      '@typescript-eslint/no-unnecessary-condition': [
        'error',
        { allowConstantLoopConditions: 'only-allowed-literals' },
      ],
      // Wrong under exactOptionalPropertyTypes and xstate's inference: removing the assertions it
      // flags (e.g. `setup({ types: {} as … })`) breaks compilation.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  // The rooms of the house (README "How it is built"): the pure rooms reach no I/O, no clock and
  // no randomness; the wire contract and the store import no runtime; the actors never import
  // the gateway (both import the wire contract instead).
  {
    files: PURE_ROOMS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'a pure room does no I/O' },
            { group: ['@nats-io/*', 'pg', '@kurrent/*'], message: 'a pure room does no I/O' },
            {
              group: ['**/store/*', '**/actors/*', '**/gateway/*', '**/cli/*', '**/main.ts'],
              message: 'a pure room imports only pure rooms',
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'time comes from events' },
        { object: 'Math', property: 'random', message: 'no randomness in the pure core' },
        { object: 'performance', property: 'now', message: 'time comes from events' },
      ],
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'setImmediate', 'process', 'fetch'].map((name) => ({
          name,
          message: 'a pure room has no timers, process or network',
        })),
      ],
    },
  },
  {
    files: ['src/store/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/actors/*', '**/gateway/*', '**/cli/*', '**/main.ts'],
              message: 'the store knows no runtime',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/actors/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/gateway/*', '**/cli/*', '**/main.ts'],
              message: 'the actors import the wire contract (src/wire), not the gateway',
            },
          ],
        },
      ],
    },
  },
  {
    // Any other plain-JS file has no project to type-check against: lint it without types.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ignores: TYPED_JS,
    extends: [tseslint.configs.disableTypeChecked],
  },
);
