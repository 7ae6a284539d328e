"""jupyter_client's kernel client, receiving large outputs without holding them twice.

jupyter_client receives an iopub message as bytes copied out of zmq's buffer (two copies for
a moment) and ``json.loads`` it (the frame and the decoded ``str`` alive together): a 100 MB
animation costs the orchestrator 200-300 MB. Here iopub frames are received without a copy,
and the content of a display, a display update or a result larger than
:data:`~runt_action.agents.spill.SPILL_THRESHOLD_BYTES` is parsed by
:func:`~runt_action.agents.spill.loads_spilling`: each large MIME value goes to a file in the
client's own temporary folder (removed with the client) and reaches the sink as a
:class:`~runt_action.agents.spill.SpilledText`, which the sink uploads from the file and
removes. Everything else (the signature check, the other messages and channels) is
jupyter_client's own code.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session, json_unpacker
from traitlets import Type

from runt_action.agents.spill import SPILL_THRESHOLD_BYTES, loads_spilling, read_back_outside

if TYPE_CHECKING:
    import zmq

__all__ = ["SpillingKernelClient", "SpillingSession"]

_SPILLED_TYPES: Final = frozenset({"display_data", "update_display_data", "execute_result"})


class SpillingSession(Session):
    """A Session whose non-copying ``deserialize`` spills the large values of an output."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spill_dir = Path(tempfile.mkdtemp(prefix="runt-spill-"))  # mode 0700
        weakref.finalize(self, shutil.rmtree, self.spill_dir, True)
        self.unpack = self._unpack

    def _unpack(self, data: bytes | memoryview) -> Any:
        if isinstance(data, memoryview):  # an output's content frame, as zmq received it
            return loads_spilling(data, directory=self.spill_dir)
        return json_unpacker(data)

    def deserialize(
        self,
        msg_list: list[bytes] | list[zmq.Message],
        content: bool = True,
        copy: bool = True,
    ) -> dict[str, Any]:
        if copy or len(msg_list) < 5:
            frames = msg_list if copy else [bytes(cast("zmq.Frame", m).bytes) for m in msg_list]
            return super().deserialize(cast("list[bytes]", frames), content=content, copy=True)
        messages = cast("list[zmq.Frame]", msg_list)
        parts: list[Any] = [bytes(m.bytes) for m in messages[:4]]
        body = messages[4].buffer
        spill = content and len(body) > SPILL_THRESHOLD_BYTES
        if spill:
            header = json_unpacker(parts[1])
            spill = isinstance(header, dict) and header.get("msg_type") in _SPILLED_TYPES
        parts.append(body if spill else bytes(body))
        parts.extend(m.buffer for m in messages[5:])
        del body, messages, msg_list  # the content frame goes once it is parsed
        message = super().deserialize(parts, content=content, copy=True)
        if spill and isinstance(message.get("content"), dict):
            read_back_outside(message["content"])
        return message


class _IOPubChannel(AsyncZMQSocketChannel):
    """Receives frames without copying them out of zmq (see :class:`SpillingSession`)."""

    async def _recv(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        assert self.socket is not None
        frames = await self.socket.recv_multipart(copy=False)
        _, smsg = self.session.feed_identities(frames, copy=False)
        return self.session.deserialize(smsg, copy=False)


class SpillingKernelClient(AsyncKernelClient):
    """An AsyncKernelClient whose iopub channel spills large outputs (give it a
    :class:`SpillingSession`)."""

    iopub_channel_class = Type(_IOPubChannel)
