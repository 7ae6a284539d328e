"""LiveStore sync-cf 0.3 in Python: codec, sync state machine, client, server and Store.

Knows nothing of notebooks: events are names and JSON args.
"""

from __future__ import annotations

from runt_action.livestore.client import SyncClient
from runt_action.livestore.events import Event
from runt_action.livestore.server import SyncServer, serve_forever, token_validator
from runt_action.livestore.store import Materializer, Store, connect_store
from runt_action.livestore.sync import SyncMachine

__all__ = [
    "Event",
    "Materializer",
    "Store",
    "SyncClient",
    "SyncMachine",
    "SyncServer",
    "connect_store",
    "serve_forever",
    "token_validator",
]
