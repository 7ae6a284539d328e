// The runt web app's own output path, with only its login/tRPC shell left out: anode's
// LiveStore adapter and sync worker (src/livestore/), its schema and materializers
// (@runtimed/schema), and the component each notebook cell renders its outputs with
// (MaybeCellOutputs -> SingleOutput -> ImageOutput / MarkdownRenderer). The page is served by
// runt-automate's sync server, so VITE_LIVESTORE_SYNC_URL="/livestore" and every relative
// "/api/artifacts/<id>" resolve to it, as they resolve to anode's worker in production.
// Built against an anode checkout by scripts/check-webapp.sh; nothing here is anode's code.
import "@/index.css";

import React from "react";
import { createRoot } from "react-dom/client";
import { unstable_batchedUpdates as batchUpdates } from "react-dom";
import { LiveStoreProvider, useQuery } from "@livestore/react";
import { queryDb, schema, tables } from "@runtimed/schema";
import { sharedLiveStoreAdapter } from "@/livestore/adapter";
import { MaybeCellOutputs } from "@/components/outputs/MaybeCellOutputs";
import { useCellOutputs } from "@/hooks/useCellOutputs";

const params = new URLSearchParams(location.search);
const storeId = params.get("store") ?? "";
// The token travels in the fragment: never sent to a server, never in a log.
const authToken = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";

function Cell({ id, cellType }: { id: string; cellType: string }) {
  const { outputs } = useCellOutputs(id);
  return (
    <section className="runt-cell" data-cell-id={id} data-outputs={outputs.length}>
      <MaybeCellOutputs
        cellId={id}
        cellType={cellType as never}
        outputs={outputs}
        isLoading={false}
        showOutput
      />
    </section>
  );
}

function Notebook() {
  const cells = useQuery(
    queryDb(tables.cells.select().orderBy("fractionalIndex", "asc"))
  ) as ReadonlyArray<{ id: string; cellType: string }>;
  return (
    <main id="notebook" data-cells={cells.length}>
      {cells.map((cell) => (
        <Cell key={cell.id} id={cell.id} cellType={cell.cellType} />
      ))}
    </main>
  );
}

createRoot(document.getElementById("react-app")!).render(
  <LiveStoreProvider
    schema={schema}
    adapter={sharedLiveStoreAdapter}
    batchUpdates={batchUpdates}
    storeId={storeId}
    syncPayload={{ authToken }}
    renderLoading={(status) => <p id="loading">{status.stage}</p>}
    renderError={(error) => <pre id="error">{String(error)}</pre>}
  >
    <Notebook />
  </LiveStoreProvider>
);
