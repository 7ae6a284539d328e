"""The live viewer: ``/`` lists the notebooks of a sync server, ``/nb/<id>`` shows one in the
HTML report's look and updates it live while a run writes into it.

Mounted on the sync server's own aiohttp app (:func:`attach_viewer`, before ``start()``);
``livestore`` never imports this package.
"""

from __future__ import annotations

from runt_action.viewer.app import Viewer, attach_viewer
from runt_action.viewer.live import cells_from_state, notebook_status

__all__ = ["Viewer", "attach_viewer", "cells_from_state", "notebook_status"]
