"""What a scenario run carries from step to step: the API client, whether it is an emulator, captures and
the last answer; the constants the actions and assertions share."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iotcli.check.schema import PLACEHOLDER, SENDING_NAMES
from iotcli.errors import ApiError

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient


CAPTURE = PLACEHOLDER
NEEDS_EMULATOR = "needs the emulator's own routes (/_emulator); the server is not an iotcli emulator"
POLL = 0.05  # real seconds between re-checks of assertions with `within`
PAGE = 10_000


class StepFailed(Exception):
    """An action could not do its part (the step is an error, not a failed assertion)."""


@dataclass
class Context:
    api: ApiClient
    emulator: bool
    captures: dict[str, Any] = field(default_factory=dict)
    events_after: int = 0
    last: dict[str, Any] = field(default_factory=dict)  # the last action's answer: status, json, headers
    connections: dict[str, str] = field(default_factory=dict)  # name -> id

    # -- placeholders -------------------------------------------------------------------------
    def fill(self, value: Any, *, i: int | None = None) -> Any:
        """Captures and vars (``{{token}}``) everywhere in ``value``; with ``i``, the sending placeholders
        too (``{{i}}``, ``{{now}}``, ``{{random:A:B}}``). A string that is one placeholder only becomes the
        value itself (a number stays a number)."""
        if isinstance(value, dict):
            return {self.fill(k, i=i): self.fill(v, i=i) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v, i=i) for v in value]
        if not isinstance(value, str) or "{{" not in value:
            return value
        whole = CAPTURE.fullmatch(value.strip())
        if whole and whole.group(1) not in SENDING_NAMES:
            return self.capture(whole.group(1))
        text = CAPTURE.sub(self._sub, value)
        if i is None:
            return text
        from iotcli.sending.template import RenderContext, Template, has_placeholder

        if not has_placeholder(text):
            return text
        only = has_placeholder(text) and re.fullmatch(r"\{\{[^}]*\}\}", text.strip()) is not None
        rendered = Template(text).render(RenderContext(i=i))
        if only:
            try:
                return json.loads(rendered)
            except ValueError:
                return rendered
        return rendered

    def _sub(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name in SENDING_NAMES:
            return match.group(0)
        value = self.capture(name)
        return value if isinstance(value, str) else json.dumps(value)

    def capture(self, name: str) -> Any:
        if name not in self.captures and name.startswith("tokens."):
            raise StepFailed(
                f"{{{{{name}}}}}: the setup did not create this token (it existed already, so its secret is "
                "not known): run against a fresh server (--emulator), or create one in a `token` step"
            )
        if name not in self.captures:
            known = ", ".join(sorted(self.captures)) or "none yet"
            raise StepFailed(f"{{{{{name}}}}} is not a var or an earlier capture (known: {known})")
        return self.captures[name]

    def connection_id(self, name: str) -> str:
        if name not in self.connections:
            for conn in self.api.list_connections():
                self.connections[str(conn.get("name"))] = str(conn.get("id"))
                self.connections[str(conn.get("id"))] = str(conn.get("id"))
        if name not in self.connections:
            raise StepFailed(f"no connection named '{name}' on the server")
        return self.connections[name]


def is_emulator(api: ApiClient) -> bool:
    """Does the server answer the emulator's own routes? (network errors are raised: exit 6)"""
    try:
        api.health()
    except ApiError:
        return False
    return True


def _pick(items: list[Any], which: Any, what: str) -> Any:
    if which == "first":
        return items[0]
    if which == "last":
        return items[-1]
    try:
        return items[int(which)]
    except IndexError:
        raise StepFailed(f"{what}: there is no item {which} (there are {len(items)})") from None


# -- assertions ---------------------------------------------------------------------------------------
