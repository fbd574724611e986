#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Config errors: `outpost -t -c FILE` and `outpost -c FILE` report
FILE:LINE:COLUMN: key: reason on stderr and exit 1.

Each fixture is written out in full; the offending line carries the marker
"# <- error" (the expected LINE is computed from it and checked against the
number written next to the case)."""

import os
import re
import shutil
import tempfile

import harness
from harness import free_port, run_outpost

VALID = """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache: { ram: 64MiB, max_object: 16MiB }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""

CASES = [
    # (name, expected line, key expected in the message or None, text)
    ("unknown_key", 7, "colour", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  ram: 64MiB
  colour: blue              # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("wrong_type", 4, "workers", """\
node:
  name: test-node
  # workers must be a number or "auto", not a sequence
  workers: [1, 2]           # <- error
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_size", 6, "ram", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  ram: 64XB                 # <- error
  max_object: 16MiB
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_address", 4, "address", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
  - { address: "127.0.0.1:99999" }      # <- error
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("unknown_pool", 11, "pool", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
      - { path: /api/, pool: nosuch }   # <- error
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_grace", 7, "grace", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  ram: 64MiB
  grace: soon               # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_slice_size", 7, "size", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  slice:
    size: 512KiB            # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("slice_over_max_object", 8, "max_object", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  max_object: 2MiB
  slice:
    size: 8MiB              # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("disk_max_object_under_max_object", 9, "under cache.max_object", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  disk:
    path: /tmp/outpost-t70-disk
    size: 1GiB
    max_object: 8MiB        # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("disk_max_object_over_disk", 9, "over cache.disk.size", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  disk:
    path: /tmp/outpost-t70-disk
    size: 1GiB
    max_object: 2GiB        # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_slice_key", 7, "unknown", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  slice:
    sized: 4MiB             # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_sendfile", 6, "sendfile", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  sendfile: sometimes       # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_heuristic_max", 6, "heuristic_max", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  heuristic_max: 1500ms     # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_range_fill_max", 7, "cache.range_fill_max", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  max_object: 16MiB
  range_fill_max: -1MiB     # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_fill_per_client", 7, "cache.fill_per_client", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
cache:
  fill_memory: 32MiB
  fill_per_client: lots     # <- error
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_route_grace", 10, "grace", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web, cache: { grace: -5s } }   # <- error
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_handshakes_per_ip", 8, "handshakes_per_ip", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
limits:
  connections: 100
  handshakes_per_ip: -1     # <- error
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_connections_per_ip", 8, "connections_per_ip", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
limits:
  connections: 100
  connections_per_ip: many  # <- error
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_tls_protocol", 5, "protocols", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
  - address: "127.0.0.1:ADMIN1"
    tls: { protocols: [TLSv1.2, TLSv1.0] }   # <- error
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_ocsp", 10, "ocsp", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    tls: { certificates: [{ cert: /nonexistent/c.pem, key: /nonexistent/k.pem,
                            ocsp: [not, a, file] }] }   # <- error
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("bad_tls_ciphers", 5, "ciphers", """\
node: { name: test-node, workers: 2 }
listen:
  - { address: "127.0.0.1:PORT" }
  - address: "127.0.0.1:ADMIN1"
    tls: { ciphers: "NO-SUCH-CIPHER" }   # <- error
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
    ("yaml_syntax", 3, None, """\
node:
  name: test-node
  workers: 2: 3             # <- error
listen:
  - { address: "127.0.0.1:PORT" }
admin: { listen: "127.0.0.1:ADMIN" }
log: { access: LOG, level: info }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - name: web
    members: [{ address: "127.0.0.1:ORIGIN" }]
"""),
]


POOL_MEMBERS = 'members: [{ address: "127.0.0.1:ORIGIN" }]'


def pool_case(name, key, lines):
    """A case whose error is in the keys of VALID's pool "web" (lines replace
    its members line; one carries the marker)."""
    head = VALID[:VALID.index("    members:")]
    text = head + "".join("    %s\n" % ln for ln in lines)
    line = [i + 1 for i, ln in enumerate(text.splitlines()) if "# <- error" in ln][0]
    return (name, line, key, text)


CASES += [
    # it goes into Via: no spaces, quotes or line breaks
    ("node_name_bad", 1, "invalid node name",
     VALID.replace("node: { name: test-node, workers: 2 }",
                   'node: { name: "a b\\r\\nX-Evil: 1", workers: 2 }   # <- error', 1)),
    # the user and group to run as must exist (checked by -t too)
    ("node_user_missing", 3, 'node.user: no such user "no-such-outpost-user"',
     VALID.replace("node: { name: test-node, workers: 2 }",
                   "node:\n  name: test-node\n  user: no-such-outpost-user   # <- error", 1)),
    ("node_group_missing", 2, 'node.group: no such group "no-such-outpost-group"',
     VALID.replace("node: { name: test-node, workers: 2 }",
                   "node:\n  group: no-such-outpost-group   # <- error", 1)),
    pool_case("max_conns_negative", "pools[0].members[1].max_conns",
              ['members: [{ address: "127.0.0.1:ORIGIN" },',
               '          { address: "127.0.0.1:1", max_conns: -1 }]   # <- error']),
    pool_case("queue_not_number", "pools[0].queue",
              [POOL_MEMBERS, "queue: lots   # <- error"]),
    pool_case("queue_timeout_no_unit", "pools[0].queue_timeout",
              [POOL_MEMBERS, "queue_timeout: 5   # <- error"]),
    pool_case("total_timeout_zero", "pools[0].timeouts.total",
              [POOL_MEMBERS, "timeouts: { send: 1s, total: 0s }   # <- error"]),
    pool_case("error_rate_over_100", "pools[0].passive.error_rate",
              [POOL_MEMBERS, "passive: { error_rate: 150% }   # <- error"]),
    pool_case("grace_not_bool", "pools[0].grace",
              [POOL_MEMBERS, "grace: sometimes   # <- error"]),
    pool_case("tls_cert_without_key", "pools[0].tls.client_cert",
              [POOL_MEMBERS, "tls: { client_cert: /etc/hostname }   # <- error"]),
    pool_case("tls_ca_file_missing", "pools[0].tls.ca_file",
              [POOL_MEMBERS, "tls: { ca_file: /nonexistent/ca.pem }   # <- error"]),
    # readable but no certificate: it used to pass -t, then every request 502
    pool_case("tls_ca_file_not_pem", "holds no PEM CA certificate",
              [POOL_MEMBERS, "tls: { ca_file: /etc/passwd }   # <- error"]),
    pool_case("max_requests_range", "pools[0].keepalive.max_requests",
              [POOL_MEMBERS, "keepalive: { max_requests: 1000000000 }   # <- error"]),
]


def _route_case(name, key, route):
    """A case whose error is in one extra route, line 12 of VALID's shape."""
    anchor = "      - { path: /, pool: web }\n"
    return (name, 12, key, VALID.replace(anchor, anchor + route + "   # <- error\n"))


# routes: matchers, rewrites, redirects, header rules, canary
CASES += [
    _route_case("route_unknown_key", "colour", "      - { path: /x/, pool: web, colour: red }"),
    _route_case("route_bad_regex", "missing closing parenthesis",
                '      - { regex: "^/a/(b", pool: web }'),
    _route_case("route_two_matchers", "only one of", "      - { path: /x/, exact: /x, pool: web }"),
    _route_case("route_undefined_pool", "unknown pool \"nosuch\"",
                "      - { path: /x/, pool: nosuch }"),
    _route_case("route_bad_redirect_status", "invalid redirect status",
                '      - { path: /x/, redirect: { status: 303, to: "/y" } }'),
    _route_case("route_bad_redirect_var", "unknown variable",
                '      - { path: /x/, redirect: { to: "https://a$hostname/" } }'),
    _route_case("route_redirect_space", "space or control character",
                '      - { path: /x/, redirect: { to: "/a b" } }'),
    _route_case("route_redirect_group_without_regex", "0 capture groups",
                '      - { path: /x/, redirect: { to: "/y/$1" } }'),
    _route_case("route_rewrite_group", "1 capture group",
                '      - { path: /x/, pool: web, rewrite: { regex: "^/x/(.*)$", to: "/$2" } }'),
    _route_case("route_bad_weight", "invalid weight",
                "      - { path: /x/, pool: web, canary: { pool: web, weight: 150% } }"),
    _route_case("route_bad_sticky", "unknown sticky",
                "      - { path: /x/, pool: web, canary: { pool: web, weight: 5%, sticky: ear } }"),
    _route_case("route_canary_undefined_pool", "unknown pool",
                "      - { path: /x/, pool: web, canary: { pool: web2, weight: 5% } }"),
    _route_case("route_header_host", "use origin_host",
                "      - { path: /x/, pool: web, request_headers: { set: { Host: a } } }"),
    _route_case("route_header_node_owned", "the node writes it",
                "      - { path: /x/, pool: web, response_headers: { remove: [x-cache] } }"),
    _route_case("route_bad_query_mode", "unknown query mode",
                "      - { path: /x/, pool: web, cache: { query: shuffle } }"),
    _route_case("route_bad_method", "is not a method",
                '      - { path: /x/, pool: web, methods: [GET, "B@D"] }'),
    _route_case("route_query_allow_without_allow", "only with query: allow",
                "      - { path: /x/, pool: web, cache: { query_allow: [a] } }"),
    _route_case("route_bad_vary_geo", "unknown vary_geo field",
                "      - { path: /x/, pool: web, cache: { vary_geo: city } }"),
    _route_case("route_geo_pools_unknown_pool", "unknown pool \"nosuch\"",
                "      - { path: /x/, pool: web, geo_pools: { EU: nosuch } }"),
    _route_case("route_geo_pools_bad_key", "geo pool key",
                "      - { path: /x/, pool: web, geo_pools: { Europe: web } }"),
    _route_case("route_bad_get_body", "unknown get_body mode",
                "      - { path: /x/, pool: web, cache: { get_body: keep } }"),
    _route_case("route_bad_error_ttl", "error_ttl",
                "      - { path: /x/, pool: web, cache: { error_ttl: 10 } }"),
    _route_case("route_bad_override_mode", "unknown override mode",
                "      - { path: /x/, pool: web, cache: { override_headers: hide } }"),
    _route_case("route_override_not_listed", "X-Custom",
                "      - { path: /x/, pool: web, cache: { override_headers: { X-Custom: key } } }"),
    _route_case("route_override_bad_field_mode", "X-Forwarded-Host",
                "      - { path: /x/, pool: web,"
                " cache: { override_headers: { X-Forwarded-Host: maybe } } }"),
    _route_case("route_bad_underscores", "underscores_in_headers",
                "      - { path: /x/, pool: web, underscores_in_headers: sometimes }"),
]


def _purge_case(name, key, line_text):
    """VALID with a purge section whose last line is line_text (marked)."""
    text = VALID + "purge:\n  tokens:\n" + line_text + "   # <- error\n"
    return (name, text.count("\n"), key, text)


CASES += [
    _purge_case("purge_token_bad_sha256", "64 hex digits",
                '    - { id: a, sha256: "abc", hosts: ["*"] }'),
    _purge_case("purge_token_no_digest", "one of sha256 and file",
                '    - { id: a, hosts: ["*"] }'),
    _purge_case("purge_token_missing_file", "cannot read",
                '    - { id: a, file: /nonexistent/outpost.token, hosts: ["*"] }'),
    _purge_case("purge_token_bad_pattern", "a host",
                '    - { id: a, sha256: "%s", hosts: ["a.*.com"] }' % ("0" * 64)),
    _purge_case("purge_token_unknown_key", "colour",
                '    - { id: a, sha256: "%s", hosts: ["*"], colour: red }' % ("0" * 64)),
]


def _purge_cidr_case(name, item):
    """VALID with purge.client_listeners whose last item is item (marked)."""
    text = VALID + "purge:\n  client_listeners:\n    - 127.0.0.2/32\n    - " + item + \
        "   # <- error\n"
    return (name, text.count("\n"), "address block", text)


CASES += [
    _purge_cidr_case("purge_client_listeners_bad_prefix", "10.0.0.0/33"),
    _purge_cidr_case("purge_client_listeners_not_address", "example.com"),
    _purge_cidr_case("purge_client_listeners_bad_v6", "2001:db8::/129"),
]


def _purge_max_body_case(name, key, value):
    """VALID with purge.max_body: value (marked)."""
    text = VALID + "purge:\n  rate: 5\n  max_body: " + value + "   # <- error\n"
    return (name, text.count("\n"), key, text)


CASES += [
    _purge_max_body_case("purge_max_body_too_big", "out of range", "1GiB"),
    _purge_max_body_case("purge_max_body_too_small", "out of range", "10"),
    _purge_max_body_case("purge_max_body_not_size", "max_body", "lots"),
]


def _fleet_case(name, key, line_text, disk=True):
    """VALID (with a disk tier unless not disk) and a fleet section whose
    last line is line_text (marked)."""
    text = VALID
    if disk:
        text = text.replace("cache: { ram: 64MiB, max_object: 16MiB }",
                            "cache: { ram: 64MiB, disk: { path: /tmp/outpost-t70, size: 64MiB } }")
    text += "fleet:\n" + line_text + "   # <- error\n"
    return (name, text.count("\n"), key, text)


CASES += [
    _fleet_case("fleet_server_not_url", "nats://",
                '  nats: { servers: ["127.0.0.1:4222"] }'),
    _fleet_case("fleet_no_servers", "servers",
                '  nats: { credentials: /etc/outpost/nats.creds }'),
    _fleet_case("fleet_bad_catchup", "fleet.catchup_timeout", "  catchup_timeout: soon"),
    _fleet_case("fleet_unknown_key", "colour", "  colour: red"),
    _fleet_case("fleet_needs_disk", "cache.disk",
                '  nats: { servers: ["nats://127.0.0.1:4222"] }', disk=False),
    _fleet_case("fleet_tls_cert_alone", "cert and key",
                '  nats: { servers: ["tls://127.0.0.1:4222"], tls: { cert: /c.pem } }'),
]


def _siblings_case(name, key, line_text):
    """VALID and a siblings section whose last line is line_text (marked)."""
    text = VALID + ('siblings:\n  self: "127.0.0.2:8080"\n  key_file: %s\n'
                    % os.path.abspath(__file__))
    text += line_text + "   # <- error\n"
    return (name, text.count("\n"), key, text)


CASES += [
    _siblings_case("siblings_no_members", "must not be empty", "  members: []"),
    _siblings_case("siblings_bad_address", "members", '  members: ["127.0.0.3"]'),
    _siblings_case("siblings_twice", "listed twice",
                   '  members: ["127.0.0.3:8080", { address: "127.0.0.3:8080" }]'),
    _siblings_case("siblings_bad_weight", "weight",
                   '  members: [{ address: "127.0.0.3:8080", weight: 0 }]'),
    _siblings_case("siblings_bad_store", "always", '  store: sometimes'),
    _siblings_case("siblings_srv_and_members", "exclude each other",
                   '  members: ["127.0.0.3:8080"]\n  srv: _outpost._tcp.pop1.example.net'),
    _siblings_case("siblings_srv_bad_name", "not a DNS name", '  srv: "pop one.example.net"'),
    _siblings_case("siblings_bad_grace", "grace", '  grace: soon'),
    _siblings_case("siblings_unknown_key", "colour", '  colour: red'),
    _siblings_case("siblings_admin_for_some", "needs admin",
                   '  members: [{ address: "127.0.0.2:8080", admin: "127.0.0.2:9090" }, '
                   '"127.0.0.3:8080"]'),
    _siblings_case("siblings_bad_admin", "admin",
                   '  members: [{ address: "127.0.0.2:8080", admin: "127.0.0.2" }]'),
    ("siblings_key_too_short", 18, "fleet key", VALID + """\
siblings:
  self: "127.0.0.2:8080"
  members: ["127.0.0.2:8080"]
  key_file: /dev/null       # <- error
"""),
    ("siblings_no_key_file", 16, "key_file", VALID + """\
siblings:
  self: "127.0.0.2:8080"    # <- error
  members: ["127.0.0.2:8080"]
"""),
]


def _compression_case(name, key, route_text, site_text=""):
    """A site (site_text: its compression lines) whose route carries
    route_text (marked), or, without route_text, a marked site line."""
    text = VALID.replace('    hosts: ["example.com"]\n',
                         '    hosts: ["example.com"]\n' + site_text)
    if route_text:
        text = text.replace("      - { path: /, pool: web }\n",
                            "      - path: /\n        pool: web\n" + route_text +
                            "   # <- error\n")
    line = [i + 1 for i, ln in enumerate(text.splitlines()) if "# <- error" in ln][0]
    return (name, line, key, text)


CASES += [
    _compression_case("compression_level_range", "compression.levels.br",
                      "        compression: { levels: { br: 12 } }"),
    _compression_case("compression_unknown_coding", "compression.prefer",
                      "        compression: { prefer: [zstd, lzma] }"),
    _compression_case("compression_twice", "compression.prefer",
                      "        compression: { prefer: [gzip, gzip] }"),
    _compression_case("compression_bad_type", "compression.types[1]",
                      '        compression: { types: [text/html, "Text Plain"] }'),
    _compression_case("compression_bad_min_size", "compression.min_size",
                      "        compression: { min_size: lots }"),
    _compression_case("compression_unknown_key", "compression.level",
                      "        compression: { level: 5 }"),
    _compression_case("compression_site_enabled", "compression.enabled", "",
                      "    compression: { enabled: maybe }   # <- error\n"),
]


def _guard_route_case(name, key, line_text):
    """VALID whose route / carries line_text (one more key, marked)."""
    text = VALID.replace("      - { path: /, pool: web }\n",
                         "      - path: /\n        pool: web\n" + line_text + "   # <- error\n")
    line = text.splitlines().index([ln for ln in text.splitlines() if "# <- error" in ln][0]) + 1
    return (name, line, key, text)


def _trusted_case(name, key, item):
    text = VALID + "trusted_proxies:\n  - 10.0.0.0/8\n  - " + item + "   # <- error\n"
    return (name, text.count("\n"), key, text)


CASES += [
    _trusted_case("trusted_proxies_host_bits", "did you mean 192.0.2.0/24", "192.0.2.1/24"),
    _trusted_case("trusted_proxies_not_address", "trusted_proxies[1]", "proxy.example"),
    _trusted_case("trusted_proxies_bad_length", "too long", "10.0.0.0/33"),
    _trusted_case("trusted_proxies_duplicate", "twice", "10.0.0.0/8"),
    ("send_min_rate_not_size", VALID.count("\n") + 2, "limits.send_min_rate",
     VALID + "limits:\n  send_min_rate: fast   # <- error\n"),
    ("send_min_rate_too_large", VALID.count("\n") + 2, "limits.send_min_rate",
     VALID + "limits:\n  send_min_rate: 2GiB   # <- error\n"),
    ("client_address_header_unknown", VALID.count("\n") + 1, "expected x-forwarded-for or forwarded",
     VALID + "client_address_header: x-real-ip   # <- error\n"),
    ("client_address_header_not_scalar", VALID.count("\n") + 1, "client_address_header",
     VALID + "client_address_header: [forwarded]   # <- error\n"),
    ("hide_origin_framing_field", VALID.count("\n") + 2, "cannot be changed",
     VALID + "hide_origin:\n  fields: [X-Backend, Content-Length]   # <- error\n"),
    ("hide_origin_not_a_field_name", VALID.count("\n") + 2, "is not a field name",
     VALID + "hide_origin:\n  fields: [\"X Backend\"]   # <- error\n"),
    ("hide_origin_enabled_not_bool", VALID.count("\n") + 2, "expected true or false",
     VALID + "hide_origin:\n  enabled: sometimes   # <- error\n"),
    ("hide_origin_unknown_key", VALID.count("\n") + 2, "hide_origin",
     VALID + "hide_origin:\n  server: false   # <- error\n"),
    _guard_route_case("access_bad_rule_kind", "unknown rule kind",
                      '        access: { deny: ["ip:192.0.2.0/24"] }'),
    _guard_route_case("access_bad_country", "country code",
                      '        access: { deny: ["country:de"] }'),
    _guard_route_case("access_bad_status", "access.status",
                      '        access: { deny: ["asn:64500"], status: 404 }'),
    _guard_route_case("access_both_lists", "mutually exclusive",
                      '        access: { deny: ["asn:1"], allow: ["asn:2"] }'),
    _guard_route_case("access_no_list", "deny", '        access: { status: 451 }'),
    _guard_route_case("access_bad_default", "allow or deny",
                      '        access: { deny: ["continent:EU"], default: maybe }'),
    _guard_route_case("access_repeated_rule", "repeats",
                      '        access: { deny: ["cidr:192.0.2.0/24", "cidr:192.0.2.0/24"] }'),
    _guard_route_case("rate_limit_bad_rate", "rate_limit.rate",
                      '        rate_limit: { rate: 100/day }'),
    _guard_route_case("rate_limit_no_rate", "missing required key",
                      '        rate_limit: { by: address }'),
    _guard_route_case("rate_limit_bad_by", "by must be",
                      '        rate_limit: { by: cookie, rate: 1/s }'),
    _guard_route_case("rate_limit_bad_header", "field name",
                      '        rate_limit: { by: "header:", rate: 1/s }'),
    _guard_route_case("rate_limit_zero_burst", "burst",
                      '        rate_limit: { rate: 1/s, burst: 0 }'),
]


# Protected content: signed_url and jwt (their files are read at load).
CASES += [
    _guard_route_case("signed_url_no_keys", "signed_url.keys",
                      '        signed_url: { leeway: 10s }'),
    _guard_route_case("signed_url_unreadable_secret", "cannot read",
                      '        signed_url: { keys: [{ id: k1, file: /nonexistent/k1 }] }'),
    _guard_route_case("signed_url_bad_secret", "base64 secret",
                      '        signed_url: { keys: [{ id: k1, file: /etc/passwd }] }'),
    _guard_route_case("signed_url_duplicate_id", "duplicate key id",
                      '        signed_url: { keys: [{ id: k1, file: /nonexistent/a },'
                      ' { id: k1, file: /nonexistent/b }] }'),
    _guard_route_case("signed_url_key_no_file", "signed_url.keys[0].file",
                      '        signed_url: { keys: [{ id: k1 }] }'),
    _guard_route_case("jwt_no_jwks", "jwt.jwks", '        jwt: { issuer: "https://id" }'),
    _guard_route_case("jwt_jwks_unreadable", "jwt.jwks",
                      '        jwt: { jwks: /nonexistent/jwks.json }'),
    _guard_route_case("jwt_jwks_not_json", "jwt.jwks", '        jwt: { jwks: /etc/passwd }'),
    _guard_route_case("jwt_bad_algorithm", "RS256, ES256, HS256",
                      '        jwt: { jwks: /etc/passwd, algorithms: [none] }'),
    _guard_route_case("jwt_bad_claim_header", "header",
                      '        jwt: { jwks: /etc/passwd, claims_headers: { sub: "X User" } }'),
    _guard_route_case("jwt_bad_leeway", "jwt.leeway",
                      '        jwt: { jwks: /etc/passwd, leeway: 2h }'),
    _guard_route_case("jwt_unknown_key", "jwt.jku", '        jwt: { jwks: /etc/passwd, jku: x }'),
]


def _geo_case(name, key, db_line, extra=""):
    """VALID with a geo section whose databases' last line is db_line (marked)."""
    text = VALID + "geo:\n" + extra + "  databases:\n" + db_line + "   # <- error\n"
    return (name, text.count("\n"), key, text)


CASES += [
    _geo_case("geo_missing_database", "No such file",
              "    - { path: /nonexistent/outpost-country.mmdb, type: country }"),
    _geo_case("geo_not_a_database", "not a MaxMind DB",
              "    - { path: /etc/passwd, type: asn }"),
    _geo_case("geo_unknown_type", "country, city or asn",
              "    - { path: /etc/passwd, type: region }"),
    ("geo_bad_header_name", VALID.count("\n") + 2, "field name", VALID + """\
geo:
  headers: { city: "X Geo" }   # <- error
"""),
    _guard_route_case("geo_headers_not_bool", "geo_headers",
                      '        geo_headers: sometimes'),
    ("proxy_protocol_needs_trusted_proxies", 3, "trusted_proxies",
     VALID.replace('  - { address: "127.0.0.1:PORT" }\n',
                   '  - { address: "127.0.0.1:PORT", proxy_protocol: true }   # <- error\n')),
    ("proxy_protocol_not_bool", 3, "proxy_protocol",
     VALID.replace('  - { address: "127.0.0.1:PORT" }\n',
                   '  - { address: "127.0.0.1:PORT", proxy_protocol: v2 }   # <- error\n')),
    ("http2_max_frame_below_the_rfc", 6, "max_frame",
     VALID.replace('cache: { ram: 64MiB, max_object: 16MiB }\n',
                   'cache: { ram: 64MiB, max_object: 16MiB }\n'
                   'http2: { max_frame: 4KiB }   # <- error\n')),
    ("http2_unknown_key", 6, "max_streams",
     VALID.replace('cache: { ram: 64MiB, max_object: 16MiB }\n',
                   'cache: { ram: 64MiB, max_object: 16MiB }\n'
                   'http2: { max_streams: 10 }   # <- error\n')),
    ("http2_unknown_value", 3, "http2",
     VALID.replace('  - { address: "127.0.0.1:PORT" }\n',
                   '  - { address: "127.0.0.1:PORT", http2: h2c }   # <- error\n')),
    ("http2_true_needs_tls", 3, "http2",
     VALID.replace('  - { address: "127.0.0.1:PORT" }\n',
                   '  - { address: "127.0.0.1:PORT", http2: true }   # <- error\n')),
    ("http2_prior_knowledge_is_for_plain", 3, "http2",
     VALID.replace('  - { address: "127.0.0.1:PORT" }\n',
                   '  - { address: "127.0.0.1:PORT", tls: true, http2: prior_knowledge }   # <- error\n')),
]


class ConfigErrors(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name, text):
        text = (text.replace("ADMIN1", str(free_port())).replace("ADMIN", str(free_port())).replace("ORIGIN", str(free_port()))
                .replace("PORT", str(free_port()))
                .replace("LOG", os.path.join(self.dir, "access.log")))
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_valid_fixture_is_ok(self):
        path = self.write("valid", VALID)
        cp = run_outpost(["-t", "-c", path])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("configuration ok", cp.stdout + cp.stderr)

    def check(self, name, line, key, text, args):
        marked = [i + 1 for i, ln in enumerate(text.splitlines()) if "# <- error" in ln]
        self.assertEqual(marked, [line], "fixture %s: marker not on line %d" % (name, line))
        path = self.write(name, text)
        cp = run_outpost(args + [path], timeout=5)
        self.assertEqual(cp.returncode, 1, "exit %d\nstderr:\n%s" % (cp.returncode, cp.stderr))
        pat = re.compile(r"^%s:(\d+):(\d+): (.*)$" % re.escape(path), re.M)
        found = pat.findall(cp.stderr)
        self.assertTrue(found, "no '%s:LINE:COLUMN: ' line in stderr:\n%s" % (path, cp.stderr))
        lines = [int(m[0]) for m in found]
        self.assertIn(line, lines, "expected line %d, got %r:\n%s" % (line, lines, cp.stderr))
        for m in found:
            self.assertGreaterEqual(int(m[1]), 1, "columns are 1-based")
        if key is not None:
            msgs = [m[2] for m in found if int(m[0]) == line]
            self.assertTrue(any(key in msg for msg in msgs),
                            "message for line %d does not name %r: %r" % (line, key, msgs))
        self.assertNotIn("configuration ok", cp.stdout + cp.stderr)

    def test_control_characters_in_a_value_stay_on_one_line(self):
        # a quoted value with newlines and an ESC in it: the error that quotes
        # it is one line, the characters written as \xNN (no forged lines)
        path = self.write("ctl", VALID.replace(
            "level: info", 'level: "deb\\n/etc/x.yaml:1:1: forged\\e[2J"'))
        cp = run_outpost(["-t", "-c", path], timeout=5)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertNotIn("\n/etc/x.yaml", cp.stderr)
        self.assertNotIn("\x1b", cp.stderr)
        self.assertRegex(cp.stderr, r"(?m)^%s:6:\d+: log\.level: .*deb\\x0a/etc/x\.yaml:1:1: "
                         r"forged\\x1b\[2J" % re.escape(path))


# Files the node appends to are checked by -t and at start: a directory that
# does not exist, or a path that is a directory, is an error at the key.
CASES += [
    ("access_log_dir_missing", 6, "log.access", VALID.replace(
        "log: { access: LOG, level: info }",
        "log: { access: /nonexistent-outpost-dir/access.log }  # <- error")),
    ("drain_announce_too_long", 7, "drain_announce", VALID.replace(
        "log: { access: LOG, level: info }",
        "log: { access: LOG, level: info }\ntimeouts: { drain_announce: 2h }  # <- error")),
    ("audit_log_is_a_directory", 16, "purge.audit_log", VALID + """purge:
  audit_log: /tmp               # <- error
"""),
]


# The access log's format, fields, syslog target and buffer.
def _log(text):
    return VALID.replace("log: { access: LOG, level: info }", text)


CASES += [
    ("log_format_unknown", 8, "log.format", _log(
        "log:\n  access: LOG\n  format: apache      # <- error")),
    ("log_field_unknown", 10, "log.fields[1]", _log(
        "log:\n  access: LOG\n  fields:\n    - status\n    - colour      # <- error")),
    ("log_field_twice", 10, "log.fields[1]", _log(
        "log:\n  access: LOG\n  fields:\n    - status\n    - status      # <- error")),
    ("log_fields_with_combined", 9, "log.fields", _log(
        "log:\n  access: LOG\n  format: combined\n  fields: [status]      # <- error")),
    ("log_buffer_too_small", 8, "log.buffer", _log(
        "log:\n  access: LOG\n  buffer: 1KiB      # <- error")),
    ("log_syslog_no_socket", 8, "log.syslog.socket", _log(
        "log:\n  access: LOG\n  syslog: { tag: x }      # <- error")),
    ("log_syslog_relative_socket", 9, "log.syslog.socket", _log(
        "log:\n  access: LOG\n  syslog:\n    socket: dev/log      # <- error")),
    ("log_syslog_facility", 10, "log.syslog.facility", _log(
        "log:\n  access: LOG\n  syslog:\n    socket: /dev/log\n"
        "    facility: local9      # <- error")),
    ("log_request_id_keep_client", 9, "log.request_id.keep_client", _log(
        "log:\n  access: LOG\n  request_id:\n    keep_client: maybe      # <- error")),
    ("log_syslog_framing", 10, "log.syslog.framing", _log(
        "log:\n  access: LOG\n  syslog:\n    socket: /dev/log\n"
        "    framing: rfc1      # <- error")),
]


def _make(case, args, suffix):
    name = case[0]

    def test(self):
        self.check(*case, args=args)
    test.__name__ = "test_%s_%s" % (suffix, name)
    return test


for _case in CASES:
    setattr(ConfigErrors, "test_check_%s" % _case[0], _make(_case, ["-t", "-c"], "check"))
    setattr(ConfigErrors, "test_start_%s" % _case[0], _make(_case, ["-c"], "start"))


if __name__ == "__main__":
    harness.main()
