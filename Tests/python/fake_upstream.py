"""An OpenAI-compatible upstream for the AI proxy's tests, with programmable behaviour.

`Upstream()` serves /v1/chat/completions, /v1/embeddings and /v1/models on a loopback port in
a background thread. What it does is decided per upstream model name: `plan(model, *actions)`
queues actions, one per call (then `ok`); every call is counted and its request kept.

Actions: ("ok",) a normal answer (streamed when the request streams, usage included when
asked); ("status", code, headers, body) an error answer; ("delay", seconds) wait before the
status line, then answer ok; ("cut", n) stream n content chunks and drop the connection;
("stall", n, seconds) stream n chunks then go silent; ("nodone", n) stream n chunks and end
cleanly without [DONE]; ("slow", seconds, n) stream n words a pause apart, then end normally;
("length",) a whole answer cut at its token ceiling; ("error", n) (Anthropic streams) n chunks, then an error event.
`/v1/messages` answers as Anthropic's Messages API does, whole or streamed, with a tool call when
the request carries tools.

Also runnable alone (`python fake_upstream.py PORT [HOST]`) as a zero-think-time upstream.
"""
import base64
import hashlib
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Upstream:
    def __init__(self, port=0, host="127.0.0.1"):
        self.lock = threading.Lock()
        self.plans = {}
        self.calls = {}
        self.requests = []
        self.aborted = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    self.reply(200, {"object": "list", "data": [{"id": "up", "object": "model", "created": 0, "owned_by": "test"}]})
                else:
                    self.reply(404, {"error": {"message": "no such route", "type": "invalid_request_error", "param": None, "code": None}})

            def do_POST(self):
                try:
                    self.answer()
                except (BrokenPipeError, ConnectionResetError):
                    # The proxy gave up on this call (a timeout or a cancel under test).
                    with upstream.lock:
                        upstream.aborted += 1
                    self.close_connection = True

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                model = body.get("model", "")
                with upstream.lock:
                    upstream.calls[model] = upstream.calls.get(model, 0) + 1
                    upstream.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    queue = upstream.plans.get(model, [])
                    action = queue.pop(0) if queue else ("ok",)
                kind = action[0]
                if kind == "status":
                    _, code, headers, payload = action
                    return self.reply(code, payload, headers)
                if kind == "delay":
                    time.sleep(action[1])
                    kind = "ok"
                if self.path.endswith("/embeddings"):
                    return self.embeddings(body)
                if self.path.endswith("/messages"):
                    return self.anthropic(body, action)
                if body.get("stream"):
                    return self.stream(body, action)
                prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
                finish = "length" if kind == "length" else "stop"
                self.reply(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": f"echo {model}", "refusal": None},
                                 "logprobs": None, "finish_reason": finish}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5},
                })

            def anthropic(self, body, action):
                """Anthropic's Messages API: a whole message, or its event stream."""
                model = body.get("model", "")
                prompt = sum(len(json.dumps(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
                blocks = [{"type": "text", "text": f"echo {model}"}]
                if body.get("tools"):
                    blocks.append({"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"], "input": {"city": "Paris"}})
                stop = "max_tokens" if action[0] == "length" else ("tool_use" if body.get("tools") else "end_turn")
                usage = {"input_tokens": prompt, "output_tokens": 5, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0}
                if not body.get("stream"):
                    return self.reply(200, {"id": "msg_test", "type": "message", "role": "assistant", "model": model, "content": blocks,
                                            "stop_reason": stop, "stop_sequence": None, "usage": usage})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def event(name, payload):
                    self.chunk(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())
                event("message_start", {"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant", "model": model,
                                                                            "content": [], "usage": dict(usage, output_tokens=1)}})
                event("ping", {"type": "ping"})
                event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
                words = ["Once", " upon", " a", " time", "."]
                limit = action[1] if action[0] in ("cut", "error") else len(words)
                for word in words[:limit]:
                    event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}})
                if action[0] == "cut":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if action[0] == "error":
                    event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                    self.wfile.write(b"0\r\n\r\n")
                    return
                event("content_block_stop", {"type": "content_block_stop", "index": 0})
                if body.get("tools"):
                    event("content_block_start", {"type": "content_block_start", "index": 1,
                                                  "content_block": {"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"], "input": {}}})
                    for part in ['{"city": ', '"Paris"}']:
                        event("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": part}})
                    event("content_block_stop", {"type": "content_block_stop", "index": 1})
                event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}})
                event("message_stop", {"type": "message_stop"})
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def embeddings(self, body):
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = []
                for i, text in enumerate(inputs):
                    digest = hashlib.sha256(str(text).encode()).digest()
                    vector = [b / 255.0 for b in digest[:8]]
                    if body.get("encoding_format") == "base64":
                        value = base64.b64encode(struct.pack("<8f", *vector)).decode()
                    else:
                        value = vector
                    data.append({"object": "embedding", "index": i, "embedding": value})
                self.reply(200, {"object": "list", "data": data, "model": body["model"],
                                 "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}})

            def reply(self, code, payload, headers=None):
                raw = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def chunk(self, data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def stream(self, body, action):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                words = ["Once", " upon", " a", " time", "."]
                pause = 0
                if action[0] == "slow":
                    pause, words = action[1], [f" w{i}" for i in range(action[2])]
                limit = action[1] if action[0] in ("cut", "stall", "nodone") else len(words)
                base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
                usage_wanted = (body.get("stream_options") or {}).get("include_usage")

                def event(payload):
                    self.chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

                event(dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                           usage=None) if usage_wanted else dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                                                  "finish_reason": None}]))
                for word in words[:limit]:
                    if pause:
                        time.sleep(pause)
                    event(dict(base, choices=[{"index": 0, "delta": {"content": word}, "finish_reason": None}]))
                if action[0] == "cut":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if action[0] == "stall":
                    time.sleep(action[2])
                    self.close_connection = True
                    return
                event(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
                if usage_wanted:
                    event(dict(base, choices=[], usage={"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}))
                if action[0] != "nodone":
                    self.chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.host = host
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}/v1"

    def plan(self, model, *actions):
        with self.lock:
            self.plans[model] = list(actions)

    def count(self, model):
        with self.lock:
            return self.calls.get(model, 0)

    def reset(self):
        with self.lock:
            self.plans.clear()
            self.calls.clear()
            self.requests.clear()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    Upstream(int(sys.argv[1]) if len(sys.argv) > 1 else 0, sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1").thread.join()
