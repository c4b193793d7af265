// Dependency rules, checked by `npm run check:deps` (dependency-cruiser).
// The layering they keep: lib/ is the platform-free core and never reaches into
// adapters/; each adapter (adapters/<name>/) stands alone and is composed with
// the others only by the presets (adapters/presets/) or by an app, a test, a
// bench or an example; and no module cycles.
// Imports are resolved as tsc resolves them (tsconfig.json), type-only imports
// included: a type import still couples the layers.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module cycle: break it by moving the shared part into a module both can import.',
      from: {},
      to: { circular: true }
    },
    {
      name: 'lib-not-to-adapters',
      severity: 'error',
      comment: 'lib/ is the platform-free core: it takes adapters as parameters and never imports one ' +
        '(compose them in adapters/presets/, bin/, or the app).',
      from: { path: '^lib/' },
      to: { path: '^adapters/' }
    },
    {
      name: 'lib-not-to-testing',
      severity: 'error',
      comment: 'lib/testing/ (meshdoc/testing) is built on the core, never the other way round: ' +
        'a core module importing it makes the two folders a cycle.',
      from: { path: '^lib/', pathNot: '^lib/testing/' },
      to: { path: '^lib/testing/' }
    },
    {
      name: 'adapter-not-to-other-adapter',
      severity: 'error',
      comment: 'An adapter (adapters/<x>/) imports only lib/ and its own folder, never another ' +
        'adapter (adapters/<y>/) nor the presets; adapters/presets/ is the one place that composes them.',
      from: { path: '^adapters/([^/]+)/', pathNot: '^adapters/presets/' },
      to: { path: '^adapters/[^/]+/', pathNot: '^adapters/$1/' }
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing (a typo, or a package missing from package.json).',
      from: {},
      to: { couldNotResolve: true }
    },
    {
      name: 'no-orphans',
      severity: 'warn',
      comment: 'A module nothing imports and that is not an entry point: dead, or a missing import. ' +
        '(knip, `npm run check:unused`, reports these as errors with the real entry points.)',
      from: {
        orphan: true,
        pathNot: [
          '(^|/)[.][^/]+[.](?:js|cjs|mjs|ts|json)$', // dot files (this config)
          '[.]d[.]ts$',
          '^(eslint|rollup|knip)[.]config[.]js$',
          '^bin/',
          '^test/', // specs and the children they spawn by path
          '^bench/',
          '^examples/'
        ]
      },
      to: {}
    }
  ],
  options: {
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['^dist/', '^node_modules/', '[.]build/'] },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings']
    },
    reporterOptions: {
      text: { highlightFocused: true }
    }
  }
}
