// Lint rules: typescript-eslint's recommended set, plus the boundary that only
// src/kernel (and the lab and tests, which build the world around the daemon)
// may spawn processes or touch the kernel.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/build/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/kernel/**', 'src/lab/**', 'src/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'node:child_process', message: 'Only src/kernel spawns processes.' },
            { name: 'child_process', message: 'Only src/kernel spawns processes.' },
          ],
        },
      ],
    },
  },
);
