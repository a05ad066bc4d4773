"""The sandbox harness's hook fault: a callback at the Nth matching request, before the app sees it (the
request is then dropped, never applied) or after the app applied it (the answer still goes out)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from connectors.sandbox.server import SandboxServer


class Style:
    def rate_limited(self, request: Request, fault: Any) -> Response:
        return Response("slow down", status=429)

    def server_error(self, request: Request, fault: Any) -> Response:
        return Response("oops", status=500)

    def auth_expired(self, request: Request) -> Response:
        return Response("expired", status=401)


class Applier:
    """A tiny app that applies each POST: the state a hook must see before or after."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        self.applied.append(request.get_data(as_text=True))
        return Response(json.dumps({"applied": len(self.applied)}), content_type="application/json")(
            environ, start_response)


def post(url: str, body: str) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body.encode(), method="POST"),
                                    timeout=5) as answer:
            return int(json.load(answer)["applied"])
    except (urllib.error.URLError, ConnectionError):
        return None  # dropped unanswered


@pytest.mark.parametrize("after", [False, True])
def test_a_hook_fires_at_the_nth_matching_request_before_or_after_it_is_applied(after):
    app = Applier()
    seen: list[tuple[str, list[str]]] = []
    with SandboxServer(app, style=Style(), is_authenticated_call=lambda r: False) as server:
        server.faults.on_request(lambda request: seen.append((request.path, list(app.applied))), nth=2,
                                 path="/push", method="POST", after=after)
        answers = [post(server.base_url + "/other", "x"), post(server.base_url + "/push", "a"),
                   post(server.base_url + "/push", "b"), post(server.base_url + "/push", "c")]
    if after:
        assert seen == [("/push", ["x", "a", "b"])]  # called once "b" was applied
        assert answers == [1, 2, 3, 4] and app.applied == ["x", "a", "b", "c"]
    else:
        assert seen == [("/push", ["x", "a"])]  # called before "b" reached the app, which never applies it
        assert answers == [1, 2, None, 3] and app.applied == ["x", "a", "c"]
    assert [r.path for r in server.requests.all()] == ["/other", "/push", "/push", "/push"]


def test_nth_counts_from_one():
    with SandboxServer(Applier(), style=Style(), is_authenticated_call=lambda r: False) as server, \
            pytest.raises(ValueError, match="nth counts from 1"):
        server.faults.on_request(lambda request: None, nth=0)
