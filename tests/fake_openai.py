"""A fake OpenAI-compatible completions server on loopback, its answers set per test."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FakeCompletions(BaseHTTPRequestHandler):
    """An OpenAI-style server whose answers are set per test: `events` are streamed as SSE.
    Every request body is appended to `bodies`; with `known` set, a body with any other field
    is refused with 422, as `transformers serve` refuses fields it does not know."""

    events: list[dict] = []
    bodies: list[dict] = []
    known: set | None = None

    def do_GET(self):
        self.reply(200, {"data": [{"id": "fake-model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeCompletions.bodies.append(body)
        unknown = set(body) - self.known if self.known is not None else set()
        if unknown:
            self.reply(422, {"detail": f"Unexpected fields in the request: {unknown}"})
            return
        if not body.get("stream"):
            tokens = body["max_tokens"]
            self.reply(200, {"choices": [{"text": " x" * tokens}],
                             "usage": {"completion_tokens": tokens}})  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for event in self.events:
            text = event if isinstance(event, str) else json.dumps(event)
            self.wfile.write(f"data: {text}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.01)
        self.wfile.write(b"data: [DONE]\n\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    FakeCompletions.bodies, FakeCompletions.known = [], None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCompletions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def text_events(*texts, usage=None):
    events = [{"choices": [{"text": text, "finish_reason": None}]} for text in texts]
    if usage is not None:
        events.append({"choices": [], "usage": {"completion_tokens": usage}})
    return events
