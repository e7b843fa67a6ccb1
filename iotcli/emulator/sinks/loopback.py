"""A sink's class-A loop-back: a ``DevEUI_downlink`` posted to the ``downlinkUrl`` of each ``DevEUI_uplink``.

The answer (or error) is written into the recorded request's ``answer.downlink`` and journaled as a
``sink.downlink`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.emulator.errors import ApiProblem
from iotcli.models.lorawan import downlink_body, downlink_prefix

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator


class LoopBack:
    def __init__(self, emu: Emulator, tasks: set[asyncio.Task[None]]) -> None:
        self.emu = emu
        #: The sink service's background tasks (cancelled when it stops).
        self._tasks = tasks

    def send(self, name: str, request_id: int, downlink: dict[str, Any]) -> None:
        """Post the downlink off the request path (the uplink has been answered by then)."""
        task = asyncio.create_task(self._send_downlink(name, request_id, downlink))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_downlink(self, name: str, request_id: int, downlink: dict[str, Any]) -> None:
        url, message = downlink["url"], downlink_body(downlink["message"])
        result: dict[str, Any] = {"url": url}
        try:
            status, answer = await self._post_downlink(url, message)
            result["status"] = status
            if isinstance(answer, dict) and "id" in answer:
                result["id"] = answer["id"]
            elif answer is not None:
                result["answer"] = answer
        except Exception as exc:  # noqa: BLE001 - recorded, not raised (nobody waits on this task)
            result["error"] = f"{type(exc).__name__}: {exc}"

        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            row = conn.execute("SELECT answer FROM sink_requests WHERE id = ?", (request_id,)).fetchone()
            if row is not None:
                recorded = json.loads(row["answer"])
                recorded["downlink"] = result
                conn.execute(
                    "UPDATE sink_requests SET answer = ? WHERE id = ?", (json.dumps(recorded), request_id)
                )
            return self.emu.events.stage(
                conn,
                "sink.downlink",
                {
                    "sink": name,
                    "request": request_id,
                    "DevEUI": downlink["message"]["DevEUI"],
                    "http_status": result.get("status"),
                    "error": result.get("error"),
                },
            )

        with contextlib.suppress(Exception):
            self.emu.events.publish(await self.emu.store.write(write))

    async def _post_downlink(self, url: str, message: dict[str, Any]) -> tuple[int, Any]:
        own = downlink_prefix(self.emu.settings.base_url)
        iotflow = self.emu.services.get("iotflow")
        if url.startswith(own) and iotflow is not None:
            # The emulator's own downlinkUrl: queued directly (the same service the route calls), so
            # the loop-back also works when nothing listens on the base URL (in-process tests).
            try:
                return 202, await iotflow.downlinks.post(url[len(own) :].split("?")[0], message)
            except ApiProblem as exc:
                return exc.status, {"message": exc.message}
        assert self.emu.http is not None
        response = await self.emu.http.post(url, json=message)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text[:200] or None


def loop_back(text: str, downlink: dict[str, Any]) -> dict[str, Any] | None:
    """The downlink to post for a request body, when it is a ``DevEUI_uplink`` with a ``downlinkUrl``."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    uplink = data.get("DevEUI_uplink") if isinstance(data, dict) else None
    if not isinstance(uplink, dict):
        return None
    url, deveui = uplink.get("downlinkUrl"), uplink.get("DevEUI")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(deveui, str):
        return None
    fport = downlink.get("FPort") or uplink.get("FPort") or 1
    return {"url": url, "message": {"DevEUI": deveui, "FPort": fport, "payload_hex": downlink["payload_hex"]}}
