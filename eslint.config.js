// @ts-check
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

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
  {
    // Any other plain-JS file has no project to type-check against: lint it without types.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ignores: TYPED_JS,
    extends: [tseslint.configs.disableTypeChecked],
  },
);
