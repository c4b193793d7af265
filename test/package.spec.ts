/**
 * The package a user installs: the tarball `npm pack` makes (its `prepack`
 * builds dist/ afresh), unpacked into an app outside the repository, with
 * meshdoc's dependencies linked from this checkout's node_modules (no
 * network; an optional peer such as @libp2p/webrtc is left out, as npm does).
 * The app is strict TypeScript (nodenext, and bundler resolution), runs two
 * nodes that sync a doc over 127.0.0.1 TCP, requires meshdoc from CommonJS,
 * starts the `meshdoc` bin, and the tarball is measured.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative, sep } from 'node:path'
import { REPO_ROOT } from './helpers/cli-process.js'

interface Run { code: number | null, stdout: string, stderr: string }
interface PackedFile { path: string, size: number, mode: number }
interface PackResult { filename: string, size: number, unpackedSize: number, entryCount: number, files: PackedFile[] }
interface PackageJson {
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  exports: Record<string, string | Record<string, string>>
  scripts: Record<string, string>
}

/** The project's Node (>= 22, the one running the specs) first on PATH; nothing from the developer's shell or mocha's loader. */
function childEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('MESHDOC_') && k !== 'DEBUG' && k !== 'NODE_OPTIONS' && k !== 'NODE_PATH') env[k] = v
  }
  env.PATH = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter)
  return env
}

async function run (cmd: string, args: string[], cwd: string, timeout = 60_000): Promise<Run> {
  return await new Promise(resolve => {
    execFile(cmd, args, { cwd, env: childEnv(), timeout, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr })
    })
  })
}

const show = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

/** Link `name` from this checkout's node_modules into the app's, as an install would have put it there. */
async function linkModule (app: string, name: string): Promise<void> {
  const target = join(app, 'node_modules', ...name.split('/'))
  await mkdir(dirname(target), { recursive: true })
  await symlink(join(REPO_ROOT, 'node_modules', ...name.split('/')), target, 'dir')
}

// the app, in strict TypeScript; `out/app.js` is what runs
const APP_TS = `import { join } from 'node:path'
import { createMeshNode, PeerOrigin, type DocHandle, type MeshNode, type MeshNodeOptions } from 'meshdoc'
import { FsStorageAdapter } from 'meshdoc/adapters/fs-storage'
import { decodeFrame, encodeFrame, MessageType } from 'meshdoc/protocol'
import * as Y from 'yjs'

// @ts-expect-error: listen takes multiaddr strings
const wrong: MeshNodeOptions = { listen: 4001 }

type Main = typeof import('meshdoc')
// @ts-expect-error: the frame codecs are in meshdoc/protocol, not the main entry
type NoCodec = Main['encodeFrame']
// @ts-expect-error: so are the message types
type NoMessageType = Main['MessageType']

async function waitFor (ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: node out/app.js <data dir>')
const options: MeshNodeOptions = { listen: ['/ip4/127.0.0.1/tcp/0'], storage: new FsStorageAdapter(join(dir, 'a')) }
const a: MeshNode = await createMeshNode(options)
const b: MeshNode = await createMeshNode({ bootstrap: a.multiaddrs, storage: new FsStorageAdapter(join(dir, 'b')) })
try {
  const ha: DocHandle = await a.open('notes/packed')
  ha.doc.getText('body').insert(0, 'written through the packed package')
  await ha.flush()
  const hb: DocHandle = await b.open('notes/packed')
  let fromPeer = false
  hb.doc.on('afterTransaction', (tr: Y.Transaction) => { if (tr.origin instanceof PeerOrigin) fromPeer = true })
  await waitFor(() => hb.doc.getText('body').toString() !== '', 20_000)
  await hb.whenSynced({ timeout: 20_000 })
  const bye = decodeFrame(encodeFrame({ type: MessageType.BYE, reason: 0, message: 'bye' }))
  console.log(JSON.stringify({
    text: hb.doc.getText('body').toString(),
    fromPeer,
    oneYjs: hb.doc instanceof Y.Doc,
    peers: b.peers.length,
    frame: bye.type === MessageType.BYE,
    unused: wrong === undefined
  }))
} finally {
  await b.stop()
  await a.stop()
}
`

// CommonJS: require(), and the same module instances as import()
const APP_CJS = `const meshdoc = require('meshdoc')
const { FsStorageAdapter } = require('meshdoc/adapters/fs-storage')
import('meshdoc').then(esm => {
  console.log(JSON.stringify({ createMeshNode: typeof meshdoc.createMeshNode, FsStorageAdapter: typeof FsStorageAdapter, sameModule: esm.createMeshNode === meshdoc.createMeshNode }))
})
`

describe('the package a user installs (npm pack)', function () {
  this.timeout(60_000)
  let tmp: string
  let app: string
  let installed: string
  let pack: PackResult
  let pkg: PackageJson

  before(async function () {
    this.timeout(120_000)
    pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson
    tmp = await mkdtemp(join(tmpdir(), 'meshdoc-pack-'))
    // runs `prepack` (the build): the tarball holds a fresh dist/
    const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], REPO_ROOT, 110_000)
    assert.equal(packed.code, 0, show(packed))
    pack = (JSON.parse(packed.stdout) as PackResult[])[0]

    app = join(tmp, 'app')
    installed = join(app, 'node_modules', 'meshdoc')
    await mkdir(join(app, 'node_modules', '.bin'), { recursive: true })
    const untar = await run('tar', ['-xzf', join(tmp, pack.filename), '-C', join(app, 'node_modules')], tmp)
    assert.equal(untar.code, 0, show(untar))
    await rename(join(app, 'node_modules', 'package'), installed)
    // what npm would install next to it: the dependencies, the required peers, and the app's own tools
    const optional = (name: string): boolean => pkg.peerDependenciesMeta?.[name]?.optional === true
    const needed = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}).filter(n => !optional(n)), 'typescript', '@types/node']
    for (const name of new Set(needed)) await linkModule(app, name)
    await symlink(join('..', 'meshdoc', 'bin', 'meshdoc.js'), join(app, 'node_modules', '.bin', 'meshdoc'))
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'meshdoc-consumer', private: true, type: 'module' }, null, 2))
  })

  after(async () => {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true })
  })

  it('holds what a user needs and nothing of the repository\'s own', async () => {
    const paths = pack.files.map(f => f.path)
    for (const need of ['package.json', 'README.md', 'bin/meshdoc.js', 'dist/index.js', 'dist/index.d.ts', 'dist/browser.js', 'dist/browser.d.ts',
      'dist/protocol.js', 'dist/protocol.d.ts', 'dist/testing.js', 'dist/cli/meshdoc.js',
      'examples/iot-gateway/README.md', 'examples/iot-gateway/meshdoc-gateway.service', 'examples/iot-gateway/policy.example.json',
      'examples/iot-gateway/gateway.json', 'examples/sensor-device/README.md', 'examples/browser-app/README.md']) {
      assert.ok(paths.includes(need), `${need} is in the tarball`)
    }
    // every target of the exports map is there
    for (const [sub, target] of Object.entries(pkg.exports)) {
      for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
        assert.ok(paths.includes(file.replace(/^\.\//, '')), `exports["${sub}"] -> ${file} is in the tarball`)
      }
    }
    const stray = paths.filter(p => /^(test|lib|adapters|bench|node_modules)\//.test(p) || p.includes('/.build/') || p.endsWith('.map') ||
      (p.endsWith('.ts') && !p.endsWith('.d.ts') && !p.startsWith('examples/')) || (p.endsWith('.d.ts') && !p.startsWith('dist/')))
    assert.deepEqual(stray, [], 'no tests, sources, source maps or build leftovers')
    // no stale chunk of an older build: each one is imported by another file of dist/
    const dist = paths.filter(p => p.startsWith('dist/'))
    const texts = new Map(await Promise.all(dist.map(async p => [p, await readFile(join(installed, p), 'utf8')] as const)))
    for (const chunk of dist.filter(p => p.startsWith('dist/chunks/'))) {
      const base = chunk.slice('dist/chunks/'.length).replace(/\.d\.ts$|\.js$/, '')
      assert.ok([...texts].some(([p, text]) => p !== chunk && text.includes(base)), `${chunk} is used`)
    }
    assert.ok(((await stat(join(installed, 'bin', 'meshdoc.js'))).mode & 0o111) !== 0, 'the bin is executable')
  })

  it('type-checks in a strict TypeScript app (nodenext, and bundler resolution)', async () => {
    await mkdir(join(app, 'src'), { recursive: true })
    await writeFile(join(app, 'src', 'app.ts'), APP_TS)
    const base = { strict: true, target: 'es2022', types: ['node'], noEmitOnError: true }
    // a Node app: no DOM types, so declaration files go unchecked (libp2p's own need the DOM's), as `tsc --init` sets it
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { ...base, lib: ['es2023'], skipLibCheck: true, module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out', rootDir: 'src' },
      include: ['src']
    }, null, 2))
    // an app for a bundler, with the DOM's types: every declaration file is checked, meshdoc's included
    await writeFile(join(app, 'tsconfig.bundler.json'), JSON.stringify({
      compilerOptions: { ...base, lib: ['es2023', 'dom'], skipLibCheck: false, module: 'esnext', moduleResolution: 'bundler', noEmit: true },
      include: ['src']
    }, null, 2))
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc')
    const nodenext = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], app)
    assert.equal(nodenext.code, 0, show(nodenext))
    const bundler = await run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], app)
    assert.equal(bundler.code, 0, show(bundler))
  })

  it('syncs a doc between two nodes over 127.0.0.1 TCP, run from the compiled app', async function () {
    if (!existsSync(join(app, 'out', 'app.js'))) this.skip() // the type-check above failed
    const data = join(tmp, 'data')
    const r = await run(process.execPath, [join(app, 'out', 'app.js'), data], app, 45_000)
    assert.equal(r.code, 0, show(r))
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>
    assert.deepEqual(result, { text: 'written through the packed package', fromPeer: true, oneYjs: true, peers: 1, frame: true, unused: false })
  })

  it('loads from CommonJS with require() (Node 22.12+), as the same module import() gives', async () => {
    await writeFile(join(app, 'uses-require.cjs'), APP_CJS)
    const r = await run(process.execPath, ['uses-require.cjs'], app)
    assert.equal(r.code, 0, show(r))
    assert.deepEqual(JSON.parse(r.stdout), { createMeshNode: 'function', FsStorageAdapter: 'function', sameModule: true })
    // a Node without require(esm) (22.0 to 22.11) says to use import()
    const old = await run(process.execPath, ['--no-experimental-require-module', 'uses-require.cjs'], app)
    assert.notEqual(old.code, 0)
    assert.match(old.stderr, /ERR_REQUIRE_ESM/)
    assert.match(old.stderr, /import\(\)/)
  })

  it('runs the meshdoc bin, whose help and README point only at files the package has', async () => {
    const bin = join(app, 'node_modules', '.bin', 'meshdoc')
    const help = await run(bin, ['--help'], app)
    assert.equal(help.code, 0, show(help))
    assert.match(help.stdout, /gateway/)
    const gatewayHelp = await run(bin, ['gateway', '--help'], app)
    assert.equal(gatewayHelp.code, 0, show(gatewayHelp))
    const readme = await readFile(join(installed, 'README.md'), 'utf8')
    const mentioned = new Set([help.stdout, gatewayHelp.stdout, readme].flatMap(t => [...t.matchAll(/\bexamples\/[\w./-]*[\w/]/g)].map(m => m[0])))
    assert.ok(mentioned.size > 0)
    for (const p of mentioned) assert.ok(existsSync(join(installed, p)), `${p} (mentioned in --help or the README) is in the package`)
  })

  it('is small: packed and unpacked sizes', async () => {
    const unpacked = (await listFiles(installed)).length
    console.log(`      meshdoc tarball: ${(pack.size / 1024).toFixed(0)} KiB packed, ${(pack.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${pack.entryCount} files`)
    assert.equal(unpacked, pack.entryCount)
    // generous bounds: packing node_modules or build leftovers fails them
    assert.ok(pack.size < 1.5 * 1024 * 1024, `packed ${pack.size} B`)
    assert.ok(pack.unpackedSize < 5 * 1024 * 1024, `unpacked ${pack.unpackedSize} B`)
    assert.ok(pack.entryCount < 200, `${pack.entryCount} files`)
  })
})

async function listFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
  }
  return out
}
