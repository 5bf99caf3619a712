#!/usr/bin/env python3
"""A webhook receiver that verifies hookline's signatures with the unmodified Standard Webhooks
library (`pip install standardwebhooks==1.1.0`).

    WEBHOOK_SECRET=whsec_... python3 examples/receiver.py 8000

Each verified webhook prints one JSON line: {"verified": true, "id", "type", "data"}; a request
whose signature does not verify prints {"verified": false, "error"} and is answered 400, so
hookline retries it.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

WEBHOOK = Webhook(os.environ["WEBHOOK_SECRET"])


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            payload = WEBHOOK.verify(body, headers)
        except WebhookVerificationError as err:
            print(json.dumps({"verified": False, "error": str(err)}), flush=True)
            self.send_response(400)
            self.end_headers()
            return
        print(json.dumps({"verified": True, "id": headers["webhook-id"], "type": payload["type"], "data": payload["data"]}), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass  # one JSON line per webhook is the whole output


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    server = HTTPServer(("127.0.0.1", port), Receiver)
    print(json.dumps({"listening": f"http://127.0.0.1:{server.server_port}/"}), flush=True)
    server.serve_forever()
