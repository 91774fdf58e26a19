// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // scratch/ is git-ignored: engineers' throwaway scripts, not part of the codebase.
    ignores: [
      'node_modules/',
      'client/dist/',
      '**/.data/',
      'docs/',
      'scratch/',
      'eslint.config.js',
      '.dependency-cruiser.cjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.browser },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      // Library code logs through pino; only CLIs and the sandbox launcher print to the console.
      'no-console': 'error',
    },
  },
  {
    files: ['**/cli.ts', '**/*-cli.ts', 'mock-ehr/src/sandbox.ts', 'models/**/*.ts', 'test/**/*.ts', '**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
  prettier,
);
