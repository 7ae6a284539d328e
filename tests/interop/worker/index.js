// The real @livestore/sync-cf 0.3.1 backend, wired like anode's backend/sync.ts: one Durable
// Object class from makeDurableObject, every /livestore* request goes to handleWebSocket, and the
// only auth is a token in the connect payload (compared with the AUTH_TOKEN var).
import { handleWebSocket, makeDurableObject } from '@livestore/sync-cf/cf-worker'

export class WebSocketServer extends makeDurableObject({
  onPush: async (message) => {
    console.log('onPush', message.batch.length)
  },
  onPull: async (message) => {
    console.log('onPull', message.cursor)
  },
}) {}

export default {
  fetch: async (request, env, ctx) => {
    const url = new URL(request.url)

    if (url.pathname.startsWith('/livestore')) {
      return handleWebSocket(request, env, ctx, {
        headers: {},
        validatePayload: (payload) => {
          if (payload?.authToken !== env.AUTH_TOKEN) {
            throw new Error('Invalid auth token')
          }
        },
      })
    }

    // Readiness probe for the test fixture.
    if (url.pathname === '/' || url.pathname === '/health') {
      return new Response('ok', { status: 200, headers: { 'Content-Type': 'text/plain' } })
    }

    return new Response('Not Found', { status: 404 })
  },
}
