"""A webhook receiver for the tests: verifies every delivery independently and logs it.

Usage: receiver.py PORT DIR [MODE]
  DIR/secret     the subscription secret (read on every request, so it can be written later)
  DIR/log.jsonl  one line per delivery: event, id, both verifications, receipt time, occurred_at
  MODE           ok (default) | hang (never answer; logs {"hanging": true, "event": …} on
                 receipt) | fail (always 500)

Checks: X-Certyneo-Signature with Python's hmac on the raw body (key: the secret string's
UTF-8 bytes), and the Standard Webhooks headers with the `standardwebhooks` package.
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

PORT, DIR = int(sys.argv[1]), sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "ok"
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        received = time.time()
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if MODE == "hang":
            try:
                event = json.loads(body).get("event")
            except ValueError:
                event = None
            with LOCK, open(os.path.join(DIR, "log.jsonl"), "a") as f:
                f.write(json.dumps({"hanging": True, "event": event, "received_at": received}) + "\n")
            time.sleep(3600)
            return
        with open(os.path.join(DIR, "secret")) as f:
            secret = f.read().strip()
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        certyneo_ok = hmac.compare_digest(expected, self.headers.get("x-certyneo-signature", ""))
        try:
            Webhook(secret).verify(body, {k.lower(): v for k, v in self.headers.items()})
            standard_ok = True
        except Exception as err:  # noqa: BLE001 - any failure is a failed verification
            standard_ok = repr(err)
        payload = json.loads(body)
        line = {
            "event": payload.get("event"),
            "id": payload.get("id"),
            "header_event_id": self.headers.get("x-certyneo-event-id"),
            "certyneo_ok": certyneo_ok,
            "standard_ok": standard_ok,
            "received_at": received,
            "occurred_at": payload.get("occurred_at"),
            "payload": payload,
        }
        with LOCK, open(os.path.join(DIR, "log.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")
        status = 500 if MODE == "fail" else 200
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
