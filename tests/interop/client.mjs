// A real LiveStore 0.3.1 Node client (adapter-node + makeCfSync), driven by pytest.
//
//   node --experimental-websocket client.mjs --url ws://127.0.0.1:PORT/livestore \
//        --store-id S --token T [--client-id C] [--session-id S] \
//        [--commit '[{"name": "v2.CellCreated", "args": {...}}, ...]'] \
//        [--wait-cells N] [--wait-outputs N] [--hold] [--timeout-ms 20000]
//
// stdout carries one JSON object per line: {"type":"ready"} after boot (initial pull done),
// {"type":"committed","localHead":n} once every commit is confirmed by the backend, then
// {"type":"tables",...} with the materialized tables. With --hold it then waits for stdin to
// close before shutting down, so a test can push while the client is live.
import { parseArgs } from 'node:util'

import { makeAdapter } from '@livestore/adapter-node'
import { createStorePromise } from '@livestore/livestore'
import { makeCfSync } from '@livestore/sync-cf'
import { Effect } from 'effect'

import { eventsByName, schema, tables } from './runt-schema.mjs'

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    'store-id': { type: 'string' },
    token: { type: 'string', default: 'test-token' },
    'client-id': { type: 'string', default: 'js-client' },
    'session-id': { type: 'string', default: 'js-session' },
    commit: { type: 'string' },
    'wait-cells': { type: 'string', default: '0' },
    'wait-outputs': { type: 'string', default: '0' },
    hold: { type: 'boolean', default: false },
    'timeout-ms': { type: 'string', default: '20000' },
  },
})

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`)
const fail = (message) => {
  process.stderr.write(`client.mjs: ${message}\n`)
  process.exit(2)
}

if (typeof WebSocket === 'undefined') fail('no global WebSocket: run node with --experimental-websocket')
if (!opts.url || !opts['store-id']) fail('--url and --store-id are required')

const deadline = Date.now() + Number(opts['timeout-ms'])
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const waitUntil = async (what, check) => {
  while (!check()) {
    if (Date.now() > deadline) fail(`timed out waiting for ${what}: ${JSON.stringify(snapshot())}`)
    await sleep(20)
  }
}

const adapter = makeAdapter({
  storage: { type: 'in-memory' },
  clientId: opts['client-id'],
  sessionId: opts['session-id'],
  sync: {
    backend: makeCfSync({ url: opts.url }),
    initialSyncOptions: { _tag: 'Blocking', timeout: 5000 },
    onSyncError: 'shutdown',
  },
})

const store = await createStorePromise({
  schema,
  adapter,
  storeId: opts['store-id'],
  syncPayload: { authToken: opts.token },
  disableDevtools: true,
})

const snapshot = () => ({
  cells: store.query(tables.cells.orderBy('fractionalIndex', 'asc')),
  executionQueue: store.query(tables.executionQueue),
  outputs: store.query(tables.outputs.orderBy('position', 'asc')),
  presence: store.query(tables.presence),
})

emit({ type: 'ready' })

if (opts.commit) {
  const batch = JSON.parse(opts.commit)
  for (const { name, args } of batch) {
    const def = eventsByName.get(name)
    if (def === undefined) fail(`unknown event ${name}`)
    store.commit(def(args))
  }
  // Confirmed = nothing pending in the session nor in the leader, and the backend head has
  // reached the session's local head (commits travel session -> leader -> backend).
  const states = () =>
    Effect.runPromise(
      Effect.all([store.syncProcessor.syncState, store.clientSession.leaderThread.getSyncState]),
    )
  let [session, leader] = await states()
  while (
    session.pending.length > 0 ||
    leader.pending.length > 0 ||
    leader.upstreamHead.global < session.localHead.global
  ) {
    if (Date.now() > deadline) fail(`push not confirmed: ${JSON.stringify(leader.toJSON())}`)
    await sleep(20)
    ;[session, leader] = await states()
  }
  const state = leader
  emit({ type: 'committed', upstreamHead: state.upstreamHead.global })
}

const wantCells = Number(opts['wait-cells'])
const wantOutputs = Number(opts['wait-outputs'])
await waitUntil(`${wantCells} cells`, () => store.query(tables.cells.count()) >= wantCells)
await waitUntil(`${wantOutputs} outputs`, () => store.query(tables.outputs.count()) >= wantOutputs)

emit({ type: 'tables', ...snapshot() })

if (opts.hold) {
  process.stdin.resume()
  await new Promise((resolve) => process.stdin.on('close', resolve).on('end', resolve))
}

await Promise.race([store.shutdown(), sleep(2000)])
process.exit(0)
