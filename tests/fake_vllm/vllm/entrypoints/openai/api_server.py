"""`python -m vllm.entrypoints.openai.api_server --model M --host H --port P ...` as vLLM takes
it: serves model id M; a streamed completion is max_tokens chunks of " x" and a usage event."""

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Completions(BaseHTTPRequestHandler):
    model = ""

    def do_GET(self):
        if self.path == "/version":
            self.reply({"version": "0.0.1+fake"})
        else:
            self.reply({"data": [{"id": self.model}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tokens = int(body["max_tokens"])
        if not body.get("stream"):
            self.reply({"choices": [{"text": " x" * tokens}],
                        "usage": {"completion_tokens": tokens}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for _ in range(tokens):
            self.event({"choices": [{"text": " x", "finish_reason": None}]})
        self.event({"choices": [], "usage": {"completion_tokens": tokens}})
        self.wfile.write(b"data: [DONE]\n\n")

    def event(self, body):
        self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
        self.wfile.flush()

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    known, _ = parser.parse_known_args()
    Completions.model = known.model
    print(f"fake vLLM serving {known.model}", flush=True)
    ThreadingHTTPServer((known.host, known.port), Completions).serve_forever()


if __name__ == "__main__":
    main()
