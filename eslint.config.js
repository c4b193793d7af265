// Lint: neostandard, the maintained successor of `standard` (no semicolons,
// two spaces, single quotes, a space before function parens), with its
// TypeScript support, plus two type-aware promise rules. `npm run lint` checks
// lib/ adapters/ bin/ bench/ examples/ test/ and the root config files;
// `npm run lint -- --fix` repairs the mechanical findings.
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    noJsx: true,
    env: ['node'],
    ignores: [...resolveIgnoresFromGitignore(), 'dist/**']
  }),
  {
    name: 'meshdoc/house-style',
    linterOptions: {
      // a stale `eslint-disable` hides nothing and misleads the reader
      reportUnusedDisableDirectives: 'error'
    },
    rules: {
      // `void promise` is how this code marks a promise it deliberately does not
      // await (fire-and-forget, event handlers); @typescript-eslint/no-floating-promises
      // below is what makes every other promise be awaited or handled
      'no-void': 'off',
      // the code names a promise's resolve function by what it means
      // (`release`, `r` for a stored resolver), not `resolve`
      'promise/param-names': 'off',
      // a `let` read by a closure before its one later assignment (a callback
      // that may fire before the value exists) stays `let`: as a `const` that
      // closure would throw in the temporal dead zone instead of seeing undefined
      'prefer-const': ['error', { destructuring: 'all', ignoreReadBeforeAssign: true }]
    }
  },
  {
    name: 'meshdoc/typescript',
    files: ['**/*.ts'],
    rules: {
      // `export const Op = {...} as const` next to `export type Op = ...` is the
      // code's enum idiom; tsc itself rejects a real redeclaration (ts(2451))
      '@typescript-eslint/no-redeclare': 'off'
    }
  },
  {
    // type-aware: uses tsconfig.json, so it sees which calls return promises
    name: 'meshdoc/typescript-promises',
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error'
    }
  }
]
