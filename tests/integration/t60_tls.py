#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""TLS termination: SNI certificate selection (SAN names, wildcard, default,
RSA next to ECDSA), complete chains, protocol floor, ALPN, Host/SNI 421,
cache hits over TLS, config errors for broken certificates and OCSP
responses, OCSP stapling (per certificate, refreshed on reload), session
resumption across two nodes sharing a ticket key file, redirect_https,
HSTS (sites[].hsts) on every TLS response and never on plain HTTP,
per-listener protocols/ciphers, the handshake timeout and per-address
handshake limit, TLS errors logged at debug level and rate-limited, and the
same checks again with curl and openssl s_client (SNI, RSA-only vs
ECDSA-capable clients, old protocols refused, 421, s_client -sess_out on one
node and -sess_in on another).  Certificates and OCSP responses are made at
test time with the openssl CLI."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import harness
from harness import req_header

OPENSSL = "openssl"


def _run(args, cwd):
    subprocess.run([OPENSSL] + args, cwd=cwd, check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Certs:
    """A root CA, an intermediate, and leaves signed by the intermediate."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="outpost-tls-")
        d = self.dir
        with open(os.path.join(d, "ca.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", "root.key", "-out", "root.pem", "-days", "30", "-subj", "/CN=Test Root"], d)
        _run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=Test Intermediate"], d)
        _run(["x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key",
              "-CAcreateserial", "-out", "int.pem", "-days", "30", "-extfile", "ca.ext"], d)
        self.leaf("rsa", ["example.com", "*.example.com"], rsa=True)
        self.leaf("ecdsa", ["example.com", "*.example.com"])
        self.leaf("local", ["localhost"])
        self.leaf("other", ["other.test"], rsa=True)
        self.expired("old", ["expired.test"])
        # a key that belongs to no certificate
        _run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
              "-out", "stray.key"], d)
        for name in os.listdir(d):
            if name.endswith(".key"):
                os.chmod(os.path.join(d, name), 0o600)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ext(self, names):
        p = self.path("leaf-%d.ext" % time.monotonic_ns())
        with open(p, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" %
                    ",".join("DNS:" + n for n in names))
        return p

    def leaf(self, name, names, rsa=False):
        d = self.dir
        key = ["-newkey", "rsa:2048"] if rsa else ["-newkey", "ec", "-pkeyopt",
                                                   "ec_paramgen_curve:P-256"]
        _run(["req"] + key + ["-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                              "-subj", "/CN=" + names[0]], d)
        _run(["x509", "-req", "-in", name + ".csr", "-CA", "int.pem", "-CAkey", "int.key",
              "-CAcreateserial", "-out", name + ".crt", "-days", "30",
              "-extfile", self._ext(names)], d)
        with open(self.path(name + ".pem"), "w") as f:   # leaf + chain
            f.write(open(self.path(name + ".crt")).read() + open(self.path("int.pem")).read())

    def expired(self, name, names):
        d = self.dir
        os.makedirs(self.path("ca-db"), exist_ok=True)
        open(self.path("ca-db/index.txt"), "w").close()
        with open(self.path("ca-db/serial"), "w") as f:
            f.write("1000\n")
        with open(self.path("ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s/ca-db/index.txt\n"
                    "new_certs_dir=%s/ca-db\nserial=%s/ca-db/serial\ndefault_md=sha256\n"
                    "policy=p\ncopy_extensions=copy\n[p]\ncommonName=supplied\n" % (d, d, d))
        _run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + names[0]], d)
        _run(["ca", "-batch", "-config", "ca.cnf", "-cert", "int.pem", "-keyfile", "int.key",
              "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
              "-in", name + ".csr", "-out", name + ".pem", "-notext"], d)

    def ocsp(self, name, status="V", out=None):
        """A DER OCSP response for leaf name signed by its issuer (the
        intermediate) with `openssl ocsp`; status V (good) or R (revoked)."""
        d = self.dir
        crt = self.path(name + ".crt")

        def field(opt):
            p = subprocess.run([OPENSSL, "x509", "-in", crt, "-noout", opt, "-nameopt", "compat"],
                               check=True, timeout=30, capture_output=True, text=True)
            return p.stdout.strip().split("=", 1)[1]
        end = time.strftime("%y%m%d%H%M%SZ", time.strptime(field("-enddate"),
                                                           "%b %d %H:%M:%S %Y GMT"))
        rev = time.strftime("%y%m%d%H%M%SZ", time.gmtime()) if status == "R" else ""
        idx = self.path("ocsp-%s-%d.txt" % (name, time.monotonic_ns()))
        with open(idx, "w") as f:
            f.write("%s\t%s\t%s\t%s\tunknown\t%s\n" % (status, end, rev, field("-serial"),
                                                         field("-subject")))
        out = out or name + ".ocsp"
        _run(["ocsp", "-index", idx, "-rsigner", "int.pem", "-rkey", "int.key", "-CA", "int.pem",
              "-issuer", "int.pem", "-cert", crt, "-respout", out, "-ndays", "2"], d)
        return self.path(out)

    def der(self, name):
        return ssl.PEM_cert_to_DER_cert(open(self.path(name + ".crt")).read())


CERTS = None
HSTS = "max-age=31536000; includeSubDomains"


def certs():
    global CERTS
    if CERTS is None:
        CERTS = Certs()
    return CERTS


def tls_config(cfg, c, tls_port, ticket_keys=None):
    cfg["listen"].append({"address": "127.0.0.1:%d" % tls_port, "tls": True})
    for s in cfg["sites"]:
        if s["name"] == "main":
            s["tls"] = {"certificates": [
                {"cert": c.path("rsa.pem"), "key": c.path("rsa.key")},
                {"cert": c.path("ecdsa.pem"), "key": c.path("ecdsa.key")}]}
            s["hsts"] = HSTS
        if s["name"] == "other":
            s["tls"] = {"certificates": [{"cert": c.path("local.pem"),
                                          "key": c.path("local.key")}]}
            s["redirect_https"] = True
    if ticket_keys:
        cfg["tls"] = {"ticket_keys": ticket_keys}
    return cfg


def client_ctx(c, **kw):
    ctx = ssl.create_default_context(cafile=c.path("root.pem"))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def tls_connect(port, ctx, sni, session=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=harness.IO_TIMEOUT)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except BaseException:
        raw.close()
        raise


def tls_get(s, path, host, extra=""):
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path, host, extra)).encode())
    rd = harness._Reader(sock=s, deadline=time.monotonic() + harness.IO_TIMEOUT)
    return harness._read_response(rd)


class TLS(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.c = certs()
        cls.origin = self.class_origin()
        cls.tls_port = harness.free_port()
        cls.node = self.class_outpost(
            cls.origin, mutate=lambda cfg: tls_config(cfg, cls.c, cls.tls_port))

    def test_sni_exact_and_wildcard_names_from_san(self):
        for sni in ("example.com", "a.example.com"):
            with tls_connect(self.tls_port, client_ctx(self.c), sni) as s:
                names = [v for k, v in s.getpeercert()["subjectAltName"]]
                self.assertIn("*.example.com", names)
        with tls_connect(self.tls_port, client_ctx(self.c), "localhost") as s:
            self.assertEqual(s.getpeercert()["subjectAltName"], (("DNS", "localhost"),))

    def test_no_sni_gets_default(self):
        ctx = client_ctx(self.c, check_hostname=False)
        with tls_connect(self.tls_port, ctx, None) as s:
            self.assertIn(s.getpeercert(binary_form=True),
                          (self.c.der("rsa"), self.c.der("ecdsa")))
            r = tls_get(s, "/t/nosni", "localhost")
            self.assertEqual(r.status, 200)

    def test_rsa_and_ecdsa_by_client_support(self):
        for suite, name in (("ECDHE-RSA-AES128-GCM-SHA256", "rsa"),
                            ("ECDHE-ECDSA-AES128-GCM-SHA256", "ecdsa")):
            ctx = client_ctx(self.c, maximum_version=ssl.TLSVersion.TLSv1_2)
            ctx.set_ciphers(suite)
            with tls_connect(self.tls_port, ctx, "example.com") as s:
                self.assertEqual(s.version(), "TLSv1.2")
                self.assertEqual(s.getpeercert(binary_form=True), self.c.der(name))

    def test_chain_is_complete(self):
        # the client trusts only the root: the intermediate must come from us
        with tls_connect(self.tls_port, client_ctx(self.c), "www.example.com") as s:
            self.assertEqual(tls_get(s, "/t/chain", "www.example.com").status, 200)

    def test_tls13_and_tls12_work_old_versions_refused(self):
        for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = client_ctx(self.c, minimum_version=v, maximum_version=v)
            with tls_connect(self.tls_port, ctx, "example.com") as s:
                self.assertEqual(s.version(), {ssl.TLSVersion.TLSv1_3: "TLSv1.3",
                                               ssl.TLSVersion.TLSv1_2: "TLSv1.2"}[v])
        for flag in ("-tls1", "-tls1_1"):
            p = subprocess.run([OPENSSL, "s_client", flag, "-cipher", "DEFAULT@SECLEVEL=0",
                                "-connect", "127.0.0.1:%d" % self.tls_port,
                                "-servername", "example.com"],
                               input=b"", capture_output=True, timeout=20)
            out = (p.stdout + p.stderr).decode("utf-8", "replace")
            self.assertNotEqual(p.returncode, 0, out)
            self.assertIn("alert protocol version", out)

    def test_alpn_h2_preferred_http11_kept(self):
        # h2 first when the client offers it (listen[].http2 defaults to
        # true with tls); a client offering only http/1.1 gets it
        ctx = client_ctx(self.c)
        ctx.set_alpn_protocols(["http/1.1", "h2"])
        with tls_connect(self.tls_port, ctx, "example.com") as s:
            self.assertEqual(s.selected_alpn_protocol(), "h2")
        ctx = client_ctx(self.c)
        ctx.set_alpn_protocols(["http/1.1"])
        with tls_connect(self.tls_port, ctx, "example.com") as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
            self.assertEqual(tls_get(s, "/t/alpn", "example.com").status, 200)

    def test_keepalive_cache_hit_and_forwarded_proto(self):
        with tls_connect(self.tls_port, client_ctx(self.c), "example.com") as s:
            r1 = tls_get(s, "/cache/t60-hit?cc=max-age%3D60", "example.com")
            r2 = tls_get(s, "/cache/t60-hit?cc=max-age%3D60", "example.com")
        self.assertEqual(r1.status, 200)
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.header("X-Cache"), "HIT")
        self.assertEqual(r1.body, r2.body)
        rec = self.origin.requests("/cache/t60-hit")[-1]
        self.assertEqual(req_header(rec, "X-Forwarded-Proto"), "https")

    def test_host_sni_mismatch_is_421(self):
        with tls_connect(self.tls_port, client_ctx(self.c), "example.com") as s:
            r = tls_get(s, "/t/mis", "localhost")
        self.assertEqual(r.status, 421)
        with tls_connect(self.tls_port, client_ctx(self.c), "example.com") as s:
            self.assertEqual(tls_get(s, "/t/same", "b.example.com").status, 200)

    def test_redirect_https(self):
        r = self.node.get("/r/x?y=1", host="localhost")
        self.assertEqual(r.status, 308)
        self.assertEqual(r.header("Location"), "https://localhost/r/x?y=1")
        self.assertEqual(self.node.get("/t/plain").status, 200)   # site without it

    def test_hsts_on_every_tls_response_never_plain(self):
        path = "/cache/t60-hsts?cc=max-age%3D60&h=ETag:%20%22h1%22" \
               "&h=Strict-Transport-Security:%20max-age%3D5"
        with tls_connect(self.tls_port, client_ctx(self.c), "example.com") as s:
            rs = {"miss": tls_get(s, path, "example.com"),
                  "hit": tls_get(s, path, "example.com"),
                  "304": tls_get(s, path, "example.com", 'If-None-Match: "h1"\r\n'),
                  "412": tls_get(s, path, "example.com", 'If-Match: "zz"\r\n'),
                  "504": tls_get(s, "/cache/t60-hsts-none", "example.com",
                                 "Cache-Control: only-if-cached\r\n"),
                  "pass": tls_get(s, "/nocache/t60-hsts", "example.com")}
        self.assertEqual([rs[k].status for k in ("miss", "hit", "304", "412", "504", "pass")],
                         [200, 200, 304, 412, 504, 200])
        self.assertEqual(rs["hit"].header("X-Cache"), "HIT")
        for k, r in rs.items():
            # the site's value replaces the origin's (relayed and stored)
            self.assertEqual(r.header_all("Strict-Transport-Security"), [HSTS], (k, r))
        # a node-generated error that closes the connection
        with tls_connect(self.tls_port, client_ctx(self.c), "example.com") as s:
            s.sendall(b"GET /t/x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 9999999\r\n\r\n")
            rd = harness._Reader(sock=s, deadline=time.monotonic() + harness.IO_TIMEOUT)
            r = harness._read_response(rd)
        self.assertEqual(r.status, 413)
        self.assertEqual(r.header_all("Strict-Transport-Security"), [HSTS])
        # plain HTTP: never, not even the origin's
        for r in (self.node.get(path), self.node.get(path),
                  self.node.get("/nocache/t60-hsts-plain")):
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header_all("Strict-Transport-Security"), [], r)
        # a site without hsts: none added, the origin's field passes through
        with tls_connect(self.tls_port, client_ctx(self.c), "localhost") as s:
            r = tls_get(s, "/t/other?h=Strict-Transport-Security:%20max-age%3D5", "localhost")
        self.assertEqual(r.header_all("Strict-Transport-Security"), ["max-age=5"])

    def test_handshake_garbage_and_silence(self):
        # not TLS at all: the connection is closed, the node keeps serving
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
        with tls_connect(self.tls_port, client_ctx(self.c), "example.com") as s:
            self.assertEqual(tls_get(s, "/t/after", "example.com").status, 200)


CURL = shutil.which("curl")


def curl(port, host, path, c, *args):
    """curl over TLS to host (SNI and Host) on the node's port; returns
    (status, body, peer leaf DER or None, stderr)."""
    p = subprocess.run([CURL, "-sS", "--cacert", c.path("root.pem"),
                        "--resolve", "%s:%d:127.0.0.1" % (host, port),
                        "-w", "\n%{http_code}\n%{certs}", "--max-time", "10"] + list(args) +
                       ["https://%s:%d%s" % (host, port, path)],
                       capture_output=True, timeout=20)
    out = p.stdout.decode("utf-8", "replace")
    m = re.search(r"\n(\d{3})\n", out)
    status = int(m.group(1)) if m else 0
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    der = ssl.PEM_cert_to_DER_cert(pem.group(0)) if pem else None
    return status, out[:m.start()] if m else out, der, p.stderr.decode("utf-8", "replace")


@unittest.skipIf(CURL is None, "curl is not installed")
class Curl(harness.OutpostTestCase):
    """The same checks with the tools operators use: curl and openssl s_client."""

    def setup_class_resources(self):
        cls = type(self)
        cls.c = certs()
        cls.origin = self.class_origin()
        cls.port = harness.free_port()
        cls.node = self.class_outpost(
            cls.origin, mutate=lambda cfg: tls_config(cfg, cls.c, cls.port))

    def test_sni_selects_the_certificate(self):
        for host, leaf in (("example.com", "ecdsa"), ("www.example.com", "ecdsa"),
                           ("localhost", "local")):
            status, body, der, err = curl(self.port, host, "/t/curl?body=hi", self.c)
            self.assertEqual(status, 200, err)
            self.assertEqual(body, "hi")
            self.assertEqual(der, self.c.der(leaf), host)

    def test_rsa_only_and_ecdsa_capable_clients(self):
        for ciphers, leaf in (("ECDHE-RSA-AES128-GCM-SHA256", "rsa"),
                              ("ECDHE-ECDSA-AES128-GCM-SHA256", "ecdsa")):
            status, _, der, err = curl(self.port, "example.com", "/t/kind", self.c,
                                       "--tls-max", "1.2", "--ciphers", ciphers)
            self.assertEqual(status, 200, err)
            self.assertEqual(der, self.c.der(leaf), ciphers)
            out = s_client(self.port, "-tls1_2", "-cipher", ciphers,
                           "-servername", "example.com")
            self.assertIn("Server public key is %d bit" % (2048 if leaf == "rsa" else 256), out)
        # TLS 1.3 with both offered: the ECDSA certificate
        status, _, der, err = curl(self.port, "example.com", "/t/kind13", self.c,
                                   "--tlsv1.3")
        self.assertEqual((status, der), (200, self.c.der("ecdsa")), err)

    def test_old_protocols_refused(self):
        for flag in ("--tlsv1.0", "--tlsv1.1"):
            status, _, _, err = curl(self.port, "example.com", "/t/old", self.c, flag,
                                     "--tls-max", flag[len("--tlsv"):],
                                     "--ciphers", "DEFAULT@SECLEVEL=0")
            self.assertEqual(status, 0, err)
            self.assertRegex(err, r"protocol version|no protocols available|alert")

    def test_host_sni_mismatch_is_421(self):
        status, body, _, err = curl(self.port, "example.com", "/t/mis", self.c,
                                    "-H", "Host: localhost")
        self.assertEqual(status, 421, err)
        self.assertIn("misdirected", body)


class Listeners(harness.OutpostTestCase):
    """Per-listener tls: { protocols, ciphers, ciphersuites }; tls: true keeps
    the defaults (1.2 + 1.3, server cipher order for 1.2)."""

    def setup_class_resources(self):
        cls = type(self)
        cls.c = c = certs()
        cls.p_def, cls.p13, cls.p12 = (harness.free_port() for _ in range(3))

        def m(cfg):
            tls_config(cfg, c, cls.p_def)
            cfg["listen"].append({"address": "127.0.0.1:%d" % cls.p13, "tls": {
                "protocols": ["TLSv1.3"], "ciphersuites": "TLS_CHACHA20_POLY1305_SHA256"}})
            cfg["listen"].append({"address": "127.0.0.1:%d" % cls.p12, "tls": {
                "protocols": ["TLSv1.2"],
                "ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"}})
            return cfg
        cls.node = self.class_outpost(self.class_origin(), mutate=m)

    def ctx(self, version, ciphers=None):
        ctx = client_ctx(self.c, minimum_version=version, maximum_version=version)
        if ciphers:
            ctx.set_ciphers(ciphers)
        return ctx

    def test_listener_limited_to_tls13_refuses_tls12(self):
        with tls_connect(self.p13, self.ctx(ssl.TLSVersion.TLSv1_3), "example.com") as s:
            self.assertEqual(s.version(), "TLSv1.3")
            self.assertEqual(s.cipher()[0], "TLS_CHACHA20_POLY1305_SHA256")
            self.assertEqual(tls_get(s, "/t/13", "example.com").status, 200)
        with self.assertRaises(ssl.SSLError):
            tls_connect(self.p13, self.ctx(ssl.TLSVersion.TLSv1_2), "example.com").close()
        out = s_client(self.p13, "-tls1_2", "-servername", "example.com")
        self.assertIn("alert protocol version", out)

    def test_listener_limited_to_tls12_with_its_cipher_order(self):
        with self.assertRaises(ssl.SSLError):
            tls_connect(self.p12, self.ctx(ssl.TLSVersion.TLSv1_3), "example.com").close()
        # the client prefers AES128; the listener's (server) order wins
        prefer128 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
        with tls_connect(self.p12, self.ctx(ssl.TLSVersion.TLSv1_2, prefer128),
                         "example.com") as s:
            self.assertEqual(s.cipher()[0], "ECDHE-ECDSA-AES256-GCM-SHA384")
            self.assertEqual(tls_get(s, "/t/12", "example.com").status, 200)
        # a cipher the listener does not allow
        with self.assertRaises(ssl.SSLError):
            tls_connect(self.p12, self.ctx(ssl.TLSVersion.TLSv1_2,
                                           "ECDHE-ECDSA-CHACHA20-POLY1305"),
                        "example.com").close()

    def test_default_listener_server_preference(self):
        prefer256 = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
        with tls_connect(self.p_def, self.ctx(ssl.TLSVersion.TLSv1_2, prefer256),
                         "example.com") as s:
            self.assertEqual(s.cipher()[0], "ECDHE-ECDSA-AES128-GCM-SHA256")
        for flag in ("-tls1", "-tls1_1"):
            for port in (self.p_def, self.p12):
                out = s_client(port, flag, "-cipher", "DEFAULT@SECLEVEL=0",
                               "-servername", "example.com")
                self.assertIn("alert protocol version", out)


class Handshakes(harness.OutpostTestCase):
    def test_timeout_and_per_ip_limit(self):
        c = certs()
        port = harness.free_port()

        def m(cfg):
            tls_config(cfg, c, port)
            cfg["node"]["workers"] = 1           # the limit is per worker
            cfg["limits"]["handshakes_per_ip"] = 2
            cfg["timeouts"]["header"] = "1s"     # bounds the handshake too
            return cfg
        node = self.start_outpost(self.start_origin(), mutate=m)
        silent = []
        try:
            for _ in range(2):
                silent.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            node.wait_metric("outpost_connections_active", lambda v: v == 2)
            # a third handshake from the same address: closed at once
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.settimeout(2)
                try:
                    self.assertEqual(s.recv(100), b"")
                except ConnectionResetError:
                    pass
            node.wait_metric("outpost_tls_handshakes_limited_total", lambda v: v == 1)
            # one slot free again: a handshake fits, and once complete it
            # frees its slot while the connection stays open: another fits
            silent.pop(0).close()
            node.wait_metric("outpost_connections_active", lambda v: v == 1)
            with tls_connect(port, client_ctx(c), "example.com") as a:
                # answered: the node has finished a's handshake
                self.assertEqual(tls_get(a, "/t/a", "example.com").status, 200)
                with tls_connect(port, client_ctx(c), "example.com") as b:
                    self.assertEqual(tls_get(b, "/t/b", "example.com").status, 200)
                self.assertEqual(tls_get(a, "/t/a2", "example.com").status, 200)
            self.assertEqual(node.metric("outpost_tls_handshakes_limited_total"), 1)
            # the silent one is closed by the handshake (header) timeout
            t0 = time.monotonic()
            silent[0].settimeout(5)
            try:
                self.assertEqual(silent[0].recv(100), b"")
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - t0, 4)
        finally:
            for s in silent:
                s.close()
        node.wait_metric("outpost_tls_handshake_errors_total", lambda v: v == 2)
        self.assertGreaterEqual(node.metric("outpost_tls_handshakes_total"), 1)
        with tls_connect(port, client_ctx(c), "example.com") as s:
            self.assertEqual(tls_get(s, "/t/after-limit", "example.com").status, 200)


class ErrorLog(harness.OutpostTestCase):
    def test_tls_errors_at_debug_level_rate_limited(self):
        c = certs()
        port = harness.free_port()

        def m(cfg):
            tls_config(cfg, c, port)
            cfg["log"]["level"] = "debug"
            cfg["node"]["workers"] = 1
            return cfg
        node = self.start_outpost(self.start_origin(), mutate=m)

        def garbage(n):
            for _ in range(n):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(b"\x16\x03\x01\x00\x05hello-not-tls")
                    s.settimeout(5)
                    try:
                        while s.recv(4096):
                            pass
                    except (ConnectionResetError, socket.timeout):
                        pass
        t0 = time.monotonic()
        garbage(60)
        elapsed = time.monotonic() - t0
        time.sleep(1.1)
        garbage(1)          # the next second's first error reports the count left out
        node.wait_metric("outpost_tls_handshake_errors_total", lambda v: v == 61)
        log = node.log()
        lines = [ln for ln in log.splitlines() if "tls" in ln and "handshake:" in ln]
        self.assertTrue(all("debug" in ln.lower() for ln in lines), lines[:3])
        self.assertGreaterEqual(len(lines), 10)
        # at most 10 per second of the run (+ the last one)
        self.assertLessEqual(len(lines), 10 * (int(elapsed) + 2) + 1)
        self.assertLess(len(lines), 61)
        self.assertRegex(log, r"\d+ TLS errors not logged \(at most 10 per second\)")
        self.assertServing(node)


class Resumption(harness.OutpostTestCase):
    def test_two_nodes_share_ticket_keys(self):
        c = certs()
        keys = c.path("tickets.key")
        with open(keys, "wb") as f:
            f.write(os.urandom(80) + os.urandom(80))
        os.chmod(keys, 0o600)
        origin = self.start_origin()
        pa, pb = harness.free_port(), harness.free_port()
        self.start_outpost(origin, mutate=lambda cfg: tls_config(cfg, c, pa, keys))
        self.start_outpost(origin, mutate=lambda cfg: tls_config(cfg, c, pb, keys))
        for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = client_ctx(c, minimum_version=v, maximum_version=v)
            with tls_connect(pa, ctx, "example.com") as s:
                self.assertEqual(tls_get(s, "/t/res", "example.com").status, 200)
                sess = s.session
                self.assertFalse(s.session_reused)
            self.assertTrue(sess.has_ticket, v)
            with tls_connect(pb, ctx, "example.com", session=sess) as s:
                self.assertEqual(tls_get(s, "/t/res", "example.com").status, 200)
                self.assertTrue(s.session_reused, "%s: not resumed on the other node" % v)

    def test_one_ticket_per_tls13_handshake(self):
        c = certs()
        port = harness.free_port()
        self.start_outpost(self.start_origin(), mutate=lambda cfg: tls_config(cfg, c, port))
        req = b"GET /t/one-ticket HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                            "-tls1_3", "-servername", "example.com", "-ign_eof"],
                           input=req, capture_output=True, timeout=20)
        out = r.stdout.decode("latin-1")
        self.assertIn("HTTP/1.1 200", out)
        self.assertEqual(out.count("Post-Handshake New Session Ticket arrived"), 1, out[-2000:])

    def test_tls13_resumption_gives_a_new_ticket(self):
        # a TLS 1.3 client uses a ticket once (RFC 8446 §C.4; OpenSSL's
        # client does): each resumed connection must bring the next ticket,
        # or every second connection of that client is a full handshake
        c = certs()
        port = harness.free_port()
        node = self.start_outpost(self.start_origin(),
                                  mutate=lambda cfg: tls_config(cfg, c, port))
        req = b"GET /t/chain-res HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        sess_in = None
        for i in range(3):
            sess_out = c.path("chain%d.pem" % i)
            args = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-tls1_3",
                    "-servername", "example.com", "-ign_eof", "-sess_out", sess_out]
            if sess_in:
                args += ["-sess_in", sess_in]
            r = subprocess.run(args, input=req, capture_output=True, timeout=20)
            out = r.stdout.decode("latin-1")
            self.assertIn("HTTP/1.1 200", out)
            self.assertIn("Reused, " if i else "New, ", out, "connection %d" % i)
            self.assertEqual(out.count("Post-Handshake New Session Ticket arrived"), 1,
                             "connection %d: %s" % (i, out[-1500:]))
            sess_in = sess_out
        self.assertEqual(node.metric("outpost_tls_resumptions_total"), 2)
        self.assertEqual(node.metric("outpost_tls_handshakes_total"), 3)

    def test_session_id_cache_for_clients_without_tickets(self):
        c = certs()
        port = harness.free_port()
        self.start_outpost(self.start_origin(), mutate=lambda cfg: tls_config(cfg, c, port))
        ctx = client_ctx(c, maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.options |= ssl.OP_NO_TICKET
        with tls_connect(port, ctx, "example.com") as s:
            self.assertEqual(tls_get(s, "/t/sid", "example.com").status, 200)
            sess = s.session
        self.assertFalse(sess.has_ticket)
        self.assertTrue(sess.id)
        with tls_connect(port, ctx, "example.com", session=sess) as s:
            self.assertEqual(tls_get(s, "/t/sid", "example.com").status, 200)
            self.assertTrue(s.session_reused, "not resumed from the session cache")

    def test_s_client_resumes_on_the_other_node(self):
        c = certs()
        keys = c.path("tickets-sc.key")
        with open(keys, "wb") as f:
            f.write(os.urandom(80))
        os.chmod(keys, 0o600)
        origin = self.start_origin()
        pa, pb = harness.free_port(), harness.free_port()
        self.start_outpost(origin, mutate=lambda cfg: tls_config(cfg, c, pa, keys))
        self.start_outpost(origin, mutate=lambda cfg: tls_config(cfg, c, pb, keys))
        for ver in ("-tls1_3", "-tls1_2"):
            sess = c.path("sess%s.pem" % ver)
            # TLS 1.3 tickets arrive after the handshake: send a request and
            # read the answer, so s_client has them before it saves the session
            p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % pa, ver,
                                "-servername", "example.com", "-sess_out", sess, "-ign_eof"],
                               input=b"GET /t/sc HTTP/1.1\r\nHost: example.com\r\n"
                                     b"Connection: close\r\n\r\n",
                               capture_output=True, timeout=20)
            out = (p.stdout + p.stderr).decode("utf-8", "replace")
            self.assertIn("HTTP/1.1 200", out)
            self.assertIn("New, ", out)
            out = s_client(pb, ver, "-servername", "example.com", "-sess_in", sess)
            self.assertIn("Reused, ", out, ver)


def s_client(port, *args):
    """openssl s_client against the node (stdin closed at once); its output."""
    p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port] + list(args),
                       input=b"", capture_output=True, timeout=20)
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def serial_of(c, name):
    p = subprocess.run([OPENSSL, "x509", "-in", c.path(name + ".crt"), "-noout", "-serial"],
                       check=True, timeout=30, capture_output=True, text=True)
    return p.stdout.strip().split("=", 1)[1]


class OCSP(harness.OutpostTestCase):
    def test_stapled_per_certificate_and_refreshed_on_reload(self):
        c = certs()
        port = harness.free_port()

        def m(cfg):
            tls_config(cfg, c, port)
            certs_ = cfg["sites"][0]["tls"]["certificates"]
            certs_[0]["ocsp"] = c.ocsp("rsa")
            certs_[1]["ocsp"] = c.ocsp("ecdsa")
            return cfg
        node = self.start_outpost(self.start_origin(), mutate=m)
        for args, name in ((["-tls1_3"], "ecdsa"),
                           (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], "rsa")):
            out = s_client(port, "-status", "-servername", "example.com", *args)
            self.assertIn("OCSP Response Status: successful", out)
            self.assertIn("Cert Status: good", out)
            self.assertIn("Serial Number: " + serial_of(c, name), out, name)
        # not asked for: none sent; a certificate without a response: none
        self.assertNotIn("OCSP Response Status", s_client(port, "-servername", "example.com"))
        out = s_client(port, "-status", "-servername", "localhost")
        self.assertIn("OCSP response: no response sent", out)
        # a reload reads the file again
        before = re.search(r"Produced At: (.*)", s_client(port, "-status", "-servername",
                                                           "example.com")).group(1)
        time.sleep(1.1)
        c.ocsp("ecdsa")
        node.send_signal(signal.SIGHUP)
        node.wait_metric("outpost_config_reloads_total", lambda v: v == 1)
        after = re.search(r"Produced At: (.*)", s_client(port, "-status", "-servername",
                                                          "example.com")).group(1)
        self.assertNotEqual(before, after)


class ConfigErrors(harness.OutpostTestCase):
    def check(self, mutate, pattern):
        c = certs()
        port = harness.free_port()
        cfg = harness.base_config(port, harness.free_port(), harness.free_port(), c.dir)
        cfg = mutate(tls_config(cfg, c, harness.free_port()))
        path = os.path.join(c.dir, "bad-%d.yaml" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(harness.to_yaml(cfg) + "\n")
        cp = harness.run_outpost(["-t", "-c", path])
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertRegex(cp.stderr, re.escape(path) + r":\d+:\d+: " + pattern)
        return cp

    def cert_of(self, cfg, i=0):
        return cfg["sites"][0]["tls"]["certificates"][i]

    def test_expired(self):
        c = certs()

        def m(cfg):
            self.cert_of(cfg).update(cert=c.path("old.pem"), key=c.path("old.key"))
            return cfg
        self.check(m, r"sites\[0\]\.tls\.certificates\[0\]\.cert: certificate .* expired")

    def test_key_mismatch(self):
        c = certs()

        def m(cfg):
            self.cert_of(cfg, 1)["key"] = c.path("stray.key")
            return cfg
        self.check(m, r"sites\[0\]\.tls\.certificates\[1\]\.cert: key .* does not match")

    def test_unreadable(self):
        def m(cfg):
            self.cert_of(cfg)["key"] = "/nonexistent/k.pem"
            return cfg
        self.check(m, r"sites\[0\]\.tls\.certificates\[0\]\.key: cannot open")

    def test_ocsp_for_another_certificate(self):
        c = certs()

        def m(cfg):
            self.cert_of(cfg, 1)["ocsp"] = c.ocsp("rsa", out="rsa-for-ecdsa.ocsp")
            return cfg
        self.check(m, r"sites\[0\]\.tls\.certificates\[1\]\.ocsp: OCSP response .* "
                      r"is not for certificate")

    def test_ocsp_revoked_and_garbage(self):
        c = certs()

        def revoked(cfg):
            self.cert_of(cfg)["ocsp"] = c.ocsp("rsa", status="R", out="rsa-revoked.ocsp")
            return cfg
        self.check(revoked, r"sites\[0\]\.tls\.certificates\[0\]\.ocsp: .* is revoked")

        def garbage(cfg):
            self.cert_of(cfg)["ocsp"] = c.path("rsa.pem")
            return cfg
        self.check(garbage, r"sites\[0\]\.tls\.certificates\[0\]\.ocsp: .* holds no DER OCSP")

    def test_listener_protocols_and_ciphers(self):
        def old(cfg):
            cfg["listen"][1]["tls"] = {"protocols": ["TLSv1.2", "TLSv1.1"]}
            return cfg
        self.check(old, r"listen\[1\]\.tls\.protocols\[1\]: \"TLSv1.1\" is not supported")

        def ciphers(cfg):
            cfg["listen"][1]["tls"] = {"ciphers": "NOPE-NOTHING"}
            return cfg
        self.check(ciphers, r"listen\[1\]\.tls\.ciphers: \"NOPE-NOTHING\" selects no cipher")

        def suites(cfg):
            cfg["listen"][1]["tls"] = {"ciphersuites": "TLS_NOPE"}
            return cfg
        self.check(suites, r"listen\[1\]\.tls\.ciphersuites: .* selects no TLS 1.3")

    def test_bad_hsts(self):
        def m(cfg):
            cfg["sites"][0]["hsts"] = "includeSubDomains"
            return cfg
        self.check(m, r"sites\[0\]\.hsts: \"includeSubDomains\" has no max-age directive")

    def test_tls_listener_without_certificates(self):
        def m(cfg):
            for s in cfg["sites"]:
                s.pop("tls", None)
            return cfg
        self.check(m, r"listen\[1\]\.tls: a TLS listener needs at least one certificate")

    def test_world_readable_key_warns_at_start(self):
        c = certs()
        exposed = c.path("exposed-start.key")
        with open(exposed, "w") as f:
            f.write(open(c.path("local.key")).read())
        os.chmod(exposed, 0o644)
        port = harness.free_port()

        def m(cfg):
            tls_config(cfg, c, port)
            cfg["sites"][1]["tls"]["certificates"][0]["key"] = exposed
            return cfg
        node = self.start_outpost(self.start_origin(), mutate=m)
        self.assertRegex(node.log(), r"warn.*:\d+:\d+: sites\[1\]\.tls\.certificates\[0\]\.key: "
                                     r"private key .* is readable by others")
        with tls_connect(port, client_ctx(c), "localhost") as s:
            self.assertEqual(tls_get(s, "/t/exposed", "localhost").status, 200)

    def test_world_readable_key_warns_and_good_config_passes(self):
        c = certs()
        path = os.path.join(c.dir, "good.yaml")
        cfg = tls_config(harness.base_config(harness.free_port(), harness.free_port(),
                                             harness.free_port(), c.dir), c,
                         harness.free_port())
        exposed = c.path("exposed.key")
        with open(exposed, "w") as f:
            f.write(open(c.path("local.key")).read())
        os.chmod(exposed, 0o644)
        cfg["sites"][1]["tls"]["certificates"][0]["key"] = exposed
        with open(path, "w") as f:
            f.write(harness.to_yaml(cfg) + "\n")
        cp = harness.run_outpost(["-t", "-c", path])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("readable by others", cp.stderr)


if __name__ == "__main__":
    harness.main()
