"""A fake old Redis on a free port (a socket speaking just enough RESP), for the tests of
the version refusal: no old redis-server is packaged here (shared by core and worker tests)."""
import socket
import threading


class OldRedis(object):
    """A RESP server answering like an old Redis: PING, INFO, TIME, and HELLO as that version
    would (unknown before 6.0: redis-py 8 sends HELLO 3 first, redis-py 4.3 on 3.6 does not)."""

    def __init__(self, version="5.0.7"):
        self.version = version
        self.resp3 = False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn):
        import time

        buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n" in buf:
                    parts, buf = self._command(buf)
                    if parts is None:
                        break
                    name = parts[0].upper()
                    if name == b"HELLO" and self.version < "6":
                        conn.sendall(b"-ERR unknown command `HELLO`, with args beginning with: `3`, \r\n")
                    elif name == b"HELLO":
                        self.resp3 = parts[1:2] == [b"3"]
                        conn.sendall(b"%1\r\n$5\r\nproto\r\n:3\r\n" if self.resp3 else
                                     b"*2\r\n$5\r\nproto\r\n:2\r\n")
                    elif name == b"PING":
                        conn.sendall(b"+PONG\r\n")
                    elif name == b"INFO":
                        body = ("# Server\r\nredis_version:%s\r\nredis_mode:standalone\r\n"
                                % self.version).encode()
                        conn.sendall(b"$%d\r\n%s\r\n" % (len(body), body))
                    elif name == b"TIME":
                        now = time.time()
                        s, us = str(int(now)).encode(), str(int((now % 1) * 1e6)).encode()
                        conn.sendall(b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(s), s, len(us), us))
                    else:
                        conn.sendall(b"+OK\r\n")

    @staticmethod
    def _command(buf):
        """One RESP array of bulk strings off the front of buf, or (None, buf) if incomplete."""
        lines = buf.split(b"\r\n")
        if not lines[0].startswith(b"*"):
            return None, buf
        count = int(lines[0][1:])
        if len(lines) < 1 + 2 * count + 1:
            return None, buf
        parts = [lines[2 + 2 * i] for i in range(count)]
        rest = b"\r\n".join(lines[1 + 2 * count:])
        return parts, rest

    def close(self):
        self.sock.close()
