"""A slow HTTP/1.1 origin for host/benches/load/saturation.sh: every answer waits DELAY_MS.

    python3 slow_origin.py DELAY_MS MAX_SECS STATS_PORT PORT...

Listens on 127.0.0.1 only, on each PORT (one per proxy under test, so that each proxy's
connections are counted apart), answers every request `200` with a 5-byte body after DELAY_MS,
with keep-alive, one request at a time per connection (proxies do not pipeline), and exits after
MAX_SECS whatever happens. Standard library only.

A connection to STATS_PORT gets one line per PORT and is closed:
`port open peak_open accepted requests peak_in_flight`, where `open` is the connections open
now, `accepted` and `requests` count since the start, and the two peaks are since the last read
(a read starts the next peak from the current value).
"""

import asyncio
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nslow\n"
MAX_HEAD = 64 * 1024


class PortStats:
    def __init__(self):
        self.open = self.peak_open = self.accepted = self.requests = 0
        self.in_flight = self.peak_in_flight = 0

    def line(self, port):
        line = (f"{port} {self.open} {self.peak_open} {self.accepted} {self.requests} "
                f"{self.peak_in_flight}\n")
        self.peak_open, self.peak_in_flight = self.open, self.in_flight
        return line


class SlowHttp(asyncio.Protocol):
    """One connection: buffers request heads (and Content-Length bodies), answers in order."""

    def __init__(self, stats, delay):
        self.stats, self.delay = stats, delay
        self.buf, self.busy, self.transport = b"", False, None

    def connection_made(self, transport):
        self.transport = transport
        s = self.stats
        s.open += 1
        s.accepted += 1
        s.peak_open = max(s.peak_open, s.open)

    def connection_lost(self, exc):
        self.stats.open -= 1
        if self.busy:
            self.stats.in_flight -= 1
            self.busy = False
        self.transport = None

    def data_received(self, data):
        self.buf += data
        self.next_request()

    def next_request(self):
        if self.busy or self.transport is None:
            return
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            if len(self.buf) > MAX_HEAD:
                self.transport.close()
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(rest) < length:
            return
        self.buf = rest[length:]
        self.busy = True
        s = self.stats
        s.requests += 1
        s.in_flight += 1
        s.peak_in_flight = max(s.peak_in_flight, s.in_flight)
        asyncio.get_running_loop().call_later(self.delay, self.answer)

    def answer(self):
        if self.transport is None:
            return
        self.busy = False
        self.stats.in_flight -= 1
        self.transport.write(RESPONSE)
        self.next_request()


async def main(delay_ms, max_secs, stats_port, ports):
    loop = asyncio.get_running_loop()
    stats = {port: PortStats() for port in ports}
    for port in ports:
        await loop.create_server(lambda s=stats[port]: SlowHttp(s, delay_ms / 1000),
                                 "127.0.0.1", port, backlog=1024)

    async def report(_reader, writer):
        writer.write("".join(stats[p].line(p) for p in ports).encode())
        await writer.drain()
        writer.close()

    await asyncio.start_server(report, "127.0.0.1", stats_port)
    await asyncio.sleep(max_secs)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    if len(args) < 4:
        raise SystemExit(__doc__)
    asyncio.run(main(args[0], args[1], args[2], args[3:]))
