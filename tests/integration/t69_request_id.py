#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Request ids: every request gets one (X-Request-Id), sent to the origin
in place of the client's and written to the access log; with
log.request_id.keep_client a valid id of the client's is kept; a 5xx the
node itself answers puts a line with the id on the error log (an origin's
5xx does not)."""

import re

import harness
from harness import req_header, wait_until

CC = "cc=max-age%3D600"
FIELDS = ["path", "status", "cache", "request_id"]
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def line_for(node, path):
    return wait_until(lambda: [r for r in node.access_lines() if r.get("path") == path],
                      5, what="access log line for %s" % path)[-1]


def origin_ids(origin, path):
    return [[v for k, v in rec["headers"] if k.lower() == "x-request-id"]
            for rec in origin.requests(path=path)]


class RequestId(harness.OutpostTestCase):
    def start(self, keep=None):
        origin = self.start_origin()

        def mutate(cfg):
            cfg["log"]["fields"] = FIELDS
            if keep is not None:
                cfg["log"]["request_id"] = {"keep_client": keep}
            harness.add_pool_route(cfg, "dead", [("127.0.0.1:%d" % harness.free_port(), {})])
        return origin, self.start_outpost(origin, mutate=mutate)

    def test_generated_sent_to_the_origin_and_logged(self):
        origin, node = self.start()
        self.assertEqual(node.get("/r/a?" + CC).status, 200)
        self.assertEqual(node.get("/r/a?" + CC).status, 200)
        self.assertEqual(node.get("/nocache/b", headers={"X-Request-Id": "client-1"}).status,
                         200)
        [sent] = origin_ids(origin, "/r/a")
        self.assertEqual(len(sent), 1)
        self.assertRegex(sent[0], HEX32)
        lines = wait_until(lambda: len([r for r in node.access_lines()
                                        if r["path"].startswith("/r/a")]) == 2 and
                           [r for r in node.access_lines() if r["path"].startswith("/r/a")],
                           5, what="two lines")
        self.assertEqual([r["cache"] for r in lines], ["MISS", "HIT"])
        self.assertEqual(lines[0]["request_id"], sent[0])
        self.assertRegex(lines[1]["request_id"], HEX32)
        self.assertNotEqual(lines[1]["request_id"], lines[0]["request_id"])
        # without keep_client the client's id is replaced, not added to
        [passed] = origin_ids(origin, "/nocache/b")
        self.assertEqual(len(passed), 1, passed)
        self.assertRegex(passed[0], HEX32)
        self.assertEqual(line_for(node, "/nocache/b")["request_id"], passed[0])

    def test_keep_client(self):
        origin, node = self.start(keep=True)
        for path, rid in (("/nocache/k1", "abc-123_X.y:z+/="), ("/nocache/k2", "bad id"),
                          ("/nocache/k3", "x" * 65), ("/nocache/k4", "x" * 64)):
            self.assertEqual(node.get(path, headers={"X-Request-Id": rid}).status, 200)
        self.assertEqual(node.get("/nocache/k5").status, 200)
        want = {"/nocache/k1": "abc-123_X.y:z+/=", "/nocache/k4": "x" * 64}
        for path in ("/nocache/k1", "/nocache/k2", "/nocache/k3", "/nocache/k4",
                     "/nocache/k5"):
            [sent] = origin_ids(origin, path)
            self.assertEqual(len(sent), 1, (path, sent))
            if path in want:
                self.assertEqual(sent[0], want[path])
            else:
                self.assertRegex(sent[0], HEX32, path)
            self.assertEqual(line_for(node, path)["request_id"], sent[0])

    def test_own_5xx_on_the_error_log(self):
        origin, node = self.start()
        self.assertEqual(node.get("/dead/x").status, 502)
        self.assertEqual(node.get("/nocache/o?status=500").status, 500)
        rid = line_for(node, "/dead/x")["request_id"]
        self.assertRegex(rid, HEX32)
        wait_until(lambda: ("request %s: 502" % rid) in node.log(), 5,
                   what="the error log line of the 502")
        ln = [x for x in node.log().splitlines() if ("request %s: 502" % rid) in x][0]
        self.assertIn("GET example.com/dead/x", ln)
        origin_rid = line_for(node, "/nocache/o?status=500")["request_id"]
        self.assertNotIn(origin_rid, node.log(), "an origin's 500 is not the node's own")
        self.assertEqual(req_header(origin.requests(path="/nocache/o")[0], "X-Request-Id"),
                         origin_rid)


if __name__ == "__main__":
    harness.main()
