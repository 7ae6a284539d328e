// The subset of the runt schema (runt-schema.md §1/§2) the interop tests exercise, with real
// LiveStore tables and materializers, so the JS client derives state the way anode does.
import { Events, makeSchema, Schema, State } from '@livestore/livestore'

const { table, text, integer, real, boolean, json } = State.SQLite

export const tables = {
  cells: table({
    name: 'cells',
    columns: {
      id: text({ primaryKey: true }),
      cellType: text({}),
      source: text({ default: '' }),
      fractionalIndex: text({ nullable: true }),
      executionCount: integer({ nullable: true }),
      executionState: text({ default: 'idle' }),
      assignedRuntimeSession: text({ nullable: true }),
      lastExecutionDurationMs: integer({ nullable: true }),
      sourceVisible: boolean({ default: true }),
      outputVisible: boolean({ default: true }),
      aiContextVisible: boolean({ default: true }),
      createdBy: text({}),
    },
  }),
  executionQueue: table({
    name: 'executionQueue',
    columns: {
      id: text({ primaryKey: true }),
      cellId: text({}),
      executionCount: integer({}),
      requestedBy: text({}),
      status: text({ default: 'pending' }),
      assignedRuntimeSession: text({ nullable: true }),
    },
  }),
  outputs: table({
    name: 'outputs',
    columns: {
      id: text({ primaryKey: true }),
      cellId: text({}),
      outputType: text({}),
      position: real({}),
      streamName: text({ nullable: true }),
      data: text({ nullable: true }),
      artifactId: text({ nullable: true }),
      mimeType: text({ nullable: true }),
      metadata: json({ nullable: true }),
      representations: json({ nullable: true }),
    },
  }),
  presence: table({
    name: 'presence',
    columns: {
      userId: text({ primaryKey: true }),
      cellId: text({ nullable: true }),
    },
  }),
}

const Media = Schema.Struct({
  type: Schema.Literal('inline', 'artifact'),
  data: Schema.optional(Schema.Any),
  artifactId: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Any })),
})

export const events = {
  cellCreated2: Events.synced({
    name: 'v2.CellCreated',
    schema: Schema.Struct({
      id: Schema.String,
      fractionalIndex: Schema.String,
      cellType: Schema.Literal('code', 'markdown', 'sql', 'ai', 'raw'),
      createdBy: Schema.String,
    }),
  }),
  cellSourceChanged: Events.synced({
    name: 'v1.CellSourceChanged',
    schema: Schema.Struct({ id: Schema.String, source: Schema.String, modifiedBy: Schema.String }),
  }),
  executionRequested: Events.synced({
    name: 'v1.ExecutionRequested',
    schema: Schema.Struct({
      queueId: Schema.String,
      cellId: Schema.String,
      executionCount: Schema.Number,
      requestedBy: Schema.String,
      actorId: Schema.optional(Schema.String),
    }),
  }),
  terminalOutputAdded: Events.synced({
    name: 'v1.TerminalOutputAdded',
    schema: Schema.Struct({
      id: Schema.String,
      cellId: Schema.String,
      position: Schema.Number,
      content: Media,
      streamName: Schema.Literal('stdout', 'stderr'),
    }),
  }),
  multimediaDisplayOutputAdded: Events.synced({
    name: 'v1.MultimediaDisplayOutputAdded',
    schema: Schema.Struct({
      id: Schema.String,
      cellId: Schema.String,
      position: Schema.Number,
      representations: Schema.Record({ key: Schema.String, value: Media }),
      displayId: Schema.optional(Schema.String),
    }),
  }),
  presenceSet: Events.synced({
    name: 'v1.PresenceSet',
    schema: Schema.Struct({ userId: Schema.String, cellId: Schema.optional(Schema.String) }),
  }),
}

const presence = (userId, cellId) =>
  tables.presence.insert({ userId, cellId: cellId ?? null }).onConflict('userId', 'replace')

const materializers = State.SQLite.materializers(events, {
  'v2.CellCreated': ({ id, fractionalIndex, cellType, createdBy }) => [
    tables.cells.insert({ id, fractionalIndex, cellType, createdBy }).onConflict('id', 'ignore'),
    presence(createdBy, id),
  ],
  'v1.CellSourceChanged': ({ id, source, modifiedBy }) => [
    tables.cells.update({ source }).where({ id }),
    presence(modifiedBy, id),
  ],
  'v1.ExecutionRequested': ({ queueId, cellId, executionCount, requestedBy, actorId }) => [
    tables.executionQueue
      .insert({ id: queueId, cellId, executionCount, requestedBy })
      .onConflict('id', 'ignore'),
    tables.cells.update({ executionState: 'queued', executionCount }).where({ id: cellId }),
    presence(actorId ?? requestedBy, cellId),
  ],
  'v1.TerminalOutputAdded': ({ id, cellId, position, content, streamName }) =>
    tables.outputs
      .insert({
        id,
        cellId,
        outputType: 'terminal',
        position,
        streamName,
        data: content.type === 'inline' ? String(content.data) : null,
        artifactId: content.type === 'artifact' ? content.artifactId : null,
        mimeType: 'text/plain',
        metadata: content.metadata ?? null,
      })
      .onConflict('id', 'replace'),
  // anode's materializer: the first present of its preference order is the primary MIME type;
  // an artifact's data is "" there (runt-schema §2.4), the whole record is kept.
  'v1.MultimediaDisplayOutputAdded': ({ id, cellId, position, representations }) => {
    const order = ['application/json', 'text/html', 'image/svg+xml', 'image/png', 'image/jpeg']
    const mimeType = order.concat(['text/markdown', 'text/plain']).find((m) => m in representations)
    const primary = mimeType ? representations[mimeType] : undefined
    return tables.outputs
      .insert({
        id,
        cellId,
        outputType: 'multimedia_display',
        position,
        data: primary?.type === 'inline' ? String(primary.data) : '',
        mimeType: mimeType ?? 'text/plain',
        representations,
      })
      .onConflict('id', 'replace')
  },
  'v1.PresenceSet': ({ userId, cellId }) => presence(userId, cellId),
})

export const schema = makeSchema({ events, state: State.SQLite.makeState({ tables, materializers }) })

/** Event definitions by wire name, so the CLI can commit `{name, args}` pairs. */
export const eventsByName = new Map(Object.values(events).map((def) => [def.name, def]))
