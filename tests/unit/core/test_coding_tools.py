#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""tests/unit/core/test_coding_tools.py — core/coding streams against other
implementations: what the module codes, Debian's brotli, zstd and gzip tools
(and Python's zlib for deflate) decode, and the other way round, byte for
byte.  Drives tests/unit/core/coding_pipe (built by make check, found next
to $OUTPOST_BIN in the build tree).  Prints TAP; a missing tool is a skip.
"""
import os
import random
import shutil
import subprocess
import sys
import zlib

TIMEOUT_S = 60


def pipe_path():
    bin_ = os.environ.get("OUTPOST_BIN")
    if bin_:
        p = os.path.join(os.path.dirname(bin_), "tests", "unit", "core", "coding_pipe")
        if os.access(p, os.X_OK):
            return p
    here = os.path.dirname(os.path.abspath(__file__))
    p = os.path.join(here, "coding_pipe")
    return p if os.access(p, os.X_OK) else None


def corpus():
    """Text from the source tree (README, docs) plus random and zero runs."""
    src = os.environ.get("OUTPOST_SRCDIR") or os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "..", "..")
    text = b""
    for name in ("README.md", "doc/outpost.yaml.5", "core/coding.c"):
        try:
            with open(os.path.join(src, name), "rb") as f:
                text += f.read()
        except OSError:
            pass
    rnd = random.Random(7)
    text += bytes(rnd.getrandbits(8) for _ in range(50000))
    text += b"\0" * 300000
    return text * 2


def run(argv, data):
    p = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


# coding -> (tool encode argv, tool decode argv); None means Python's zlib.
TOOLS = {
    "gzip": (["gzip", "-c", "-6"], ["gzip", "-d", "-c"]),
    "br": (["brotli", "-c", "-q", "5"], ["brotli", "-d", "-c"]),
    "zstd": (["zstd", "-q", "-c", "-3"], ["zstd", "-q", "-d", "-c"]),
    "deflate": None,
}


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, diag=""):
        self.n += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, what), flush=True)
        if not cond:
            self.failed += 1
            for line in str(diag).splitlines():
                print("#   " + line)

    def skip(self, what, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, what, why), flush=True)


def main():
    tap = Tap()
    pipe = pipe_path()
    if pipe is None:
        print("1..0 # SKIP coding_pipe is not built")
        return 0
    data = corpus()
    for coding, tools in TOOLS.items():
        if tools is not None and shutil.which(tools[0][0]) is None:
            tap.skip("%s round trips" % coding, "%s not installed" % tools[0][0])
            continue
        for chunk in ("1", "4096", "100000"):
            rc, coded, err = run([pipe, "encode", coding, "-c", chunk], data)
            tap.ok(rc == 0 and len(coded) < len(data),
                   "%s: module encodes (pieces of %s)" % (coding, chunk), err)
            if tools is None:
                plain = zlib.decompress(coded)
            else:
                rc, plain, err = run(tools[1], coded)
            tap.ok(plain == data, "%s: %s decodes the module's bytes (pieces of %s)" % (
                coding, "zlib" if tools is None else tools[1][0], chunk), err)
        if tools is None:
            coded_list = [("zlib", zlib.compress(data, 6))]
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            coded_list.append(("raw deflate", c.compress(data) + c.flush()))
        else:
            rc, coded, err = run(tools[0], data)
            tap.ok(rc == 0, "%s: %s encodes" % (coding, tools[0][0]), err)
            coded_list = [(tools[0][0], coded)]
        for who, coded in coded_list:
            for chunk in ("1", "4096"):
                rc, plain, err = run([pipe, "decode", coding, "-c", chunk], coded)
                tap.ok(rc == 0 and plain == data,
                       "%s: module decodes %s's bytes (pieces of %s)" % (coding, who, chunk),
                       err)
        # a bomb made by the tool: 10 MiB of zeros, a 1 MiB limit
        zeros = b"\0" * (10 << 20)
        if tools is None:
            bomb = zlib.compress(zeros, 9)
        else:
            rc, bomb, err = run(tools[0], zeros)
        rc, plain, err = run([pipe, "decode", coding, "-m", str(1 << 20), "-r", "0"], bomb)
        tap.ok(rc == 10 + 6 and len(plain) <= (1 << 20),
               "%s: a %d-byte bomb stops at the 1 MiB limit (%d bytes out)" % (
                   coding, len(bomb), len(plain)), err)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
