#!/usr/bin/env python3
"""Byte pump for the stream bench (loopback only; every loop bounded in time).

  pump.py sink PORT               accept connections; read each to its end (discarding), then
                                  answer the byte count (8 bytes, big-endian) and close
  pump.py send PORT CONNS SECS    CONNS connections each send a git pkt-line preface, then 256 KiB
                                  writes for SECS seconds, half-close and read the sink's count;
                                  prints "<bytes delivered> <seconds>"
"""
import socket
import struct
import sys
import threading
import time

PREFACE = b"0020git-upload-pack /bench.git\0"
CHUNK = 256 * 1024


def sink(port):
    server = socket.create_server(("127.0.0.1", port), backlog=256)

    def serve(conn):
        with conn:
            buf = bytearray(1 << 20)
            view = memoryview(buf)
            total = 0
            conn.settimeout(120)
            while True:
                n = conn.recv_into(view)
                if n == 0:
                    break
                total += n
            conn.sendall(struct.pack(">Q", total))

    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def send(port, conns, secs):
    results = [0] * conns
    data = b"\x5a" * CHUNK

    def one(i):
        with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
            s.sendall(PREFACE)
            deadline = time.monotonic() + secs
            while time.monotonic() < deadline:
                s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while len(got) < 8:
                more = s.recv(8 - len(got))
                if not more:
                    break
                got += more
            results[i] = struct.unpack(">Q", got)[0] if len(got) == 8 else 0

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(secs + 120)
    print(sum(results), time.monotonic() - started)


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sink(int(sys.argv[2]))
    else:
        send(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
