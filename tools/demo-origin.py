#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A small demo origin for tools/demo: answers every GET/HEAD with a page that
says when it was generated, cacheable for 60 s (so the second request through
Outpost is a HIT), except /api/ which is never cached.  Stdlib only."""
import argparse
import http.server
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "outpost-demo-origin"
    served = 0

    def do_GET(self):
        Handler.served += 1
        body = ("demo origin: %s generated at %s (origin request #%d)\n"
                % (self.path, time.strftime("%H:%M:%S"), Handler.served)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if self.path.startswith("/api/"):
            self.send_header("Cache-Control", "no-store")
        else:
            self.send_header("Cache-Control", "public, max-age=60")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8081)
    a = ap.parse_args()
    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
