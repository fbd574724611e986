#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""tools/bench/idle.py — idle keep-alive connection holder for tools/bench/run
(Python 3, stdlib only).

  idle.py HOST PORT PATH N HOLD_S TIMEOUT_S

Opens N connections to HOST:PORT, sends one `GET PATH` on each and reads the
whole response (Content-Length), so each is an idle keep-alive connection;
then prints "READY ok=.. failed=.." (stdout, flushed), holds them all HOLD_S
seconds, counts those the server closed meanwhile, prints
"HELD ok=.. failed=.. closed=.. setup_us=.." and closes them.  Gives up on
the set-up after TIMEOUT_S (the connections not done by then count as
failed).
"""
import resource
import select
import socket
import sys
import time


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 2
    host, port, path, n, hold, tmo = argv[0], int(argv[1]), argv[2], int(argv[3]), \
        float(argv[4]), float(argv[5])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (path, host, port)).encode()
    ep = select.epoll()
    st = {}      # fd -> [sock, state, buffer]; state 0 connecting, 1 reading, 2 done
    failed = 0
    t0 = time.monotonic()
    deadline = t0 + tmo
    started = 0
    done = 0
    batch = 500  # connections in flight at once during the set-up

    def fail(fd):
        nonlocal failed
        s = st.pop(fd)[0]
        try:
            ep.unregister(fd)
        except OSError:
            pass
        s.close()
        failed += 1

    while (started < n or len(st) > done) and time.monotonic() < deadline:
        while started < n and len(st) - done < batch:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            started += 1
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                failed += 1
                continue
            st[s.fileno()] = [s, 0, b""]
            ep.register(s.fileno(), select.EPOLLOUT)
        for fd, ev in ep.poll(0.2):
            if fd not in st:
                continue
            e = st[fd]
            s = e[0]
            if e[1] == 0:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    fail(fd)
                    continue
                try:
                    s.send(req)
                except OSError:
                    fail(fd)
                    continue
                e[1] = 1
                ep.modify(fd, select.EPOLLIN)
                continue
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                fail(fd)
                continue
            if not chunk:
                fail(fd)
                continue
            e[2] += chunk
            head, sep, body = e[2].partition(b"\r\n\r\n")
            if not sep:
                continue
            clen = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    clen = int(v.strip())
            if len(body) >= clen:
                e[1] = 2
                e[2] = b""
                ep.unregister(fd)
                done += 1
    setup_us = int((time.monotonic() - t0) * 1e6)
    for fd in [fd for fd, e in st.items() if e[1] != 2]:
        fail(fd)
    print("READY ok=%d failed=%d" % (len(st), failed), flush=True)
    time.sleep(hold)
    p = select.poll()
    for fd in st:
        p.register(fd, select.POLLIN | select.POLLRDHUP)
    closed = len(p.poll(0))  # readable or hung up: the server closed it (or sent junk)
    print("HELD ok=%d failed=%d closed=%d setup_us=%d" % (len(st), failed, closed, setup_us),
          flush=True)
    for e in st.values():
        e[0].close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
