"""An event whose write fails once is still emitted exactly once, with one webhook call.

A real `alpr dispatch` process on the real redis-server, connected as an ACL user; a local
HTTP server receives its webhooks. The fault: XADD is taken from the user's rights while
the vehicle's group closes, so the dispatcher's MULTI (XADD event + XACK entries) aborts
as a whole; then it is given back. Seen before the fix: the dispatcher had recorded the
event in its dedup window before the failed write, so the re-claimed entries regrouped
and were suppressed as a repeat of an event never written: no event, no webhook.
"""
import http.server
import json
import threading
import time
import uuid

import redis

from demo.fleet import Fleet
from alpr.protocol import ResultRecord, encode_result

USER, PASSWORD = "dispatch-fault", "pw-%s" % uuid.uuid4().hex[:8]


class Hooks(http.server.BaseHTTPRequestHandler):
    received = []  # type: list

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Hooks.received.append(json.loads(body.decode("utf-8")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def test_event_whose_write_failed_once_is_emitted_once(redis_client, redis_server, tmp_path):
    Hooks.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook_url = "http://127.0.0.1:%d/hook" % server.server_address[1]
    redis_client.execute_command("ACL", "SETUSER", USER, "on", ">" + PASSWORD, "~*", "&*",
                                 "+@all", "-xadd")
    url = "redis://%s:%s@127.0.0.1:%d/0" % (USER, PASSWORD, redis_server.port)
    run = uuid.uuid4().hex[:6]
    fleet = Fleet(url, "wf-%s:" % run, "wf-%s" % run, str(tmp_path))
    admin = redis.Redis.from_url(redis_server.url)
    try:
        # the results stream and its group exist before the fault (the worker's XADD is admin's)
        admin.xgroup_create(fleet.keys.results, "dispatch", id="0", mkstream=True)
        fleet.start_dispatcher(extra=["--group-window-s", "0.5", "--webhook", hook_url])
        time.sleep(1.0)
        for i in range(3):
            rec = ResultRecord("f%d" % i, "gate", "read", ts=time.time(),
                               reads=[{"text": "FLT1234", "confidence": 0.9, "box": [1, 2, 3, 4]}])
            admin.xadd(fleet.keys.results, encode_result(rec))
        log_path = tmp_path / "dispatcher.log"
        assert wait_for(lambda: "no permissions to run the 'xadd'" in log_path.read_text(), 15), \
            log_path.read_text()[-2000:]
        assert admin.xlen(fleet.keys.events) == 0  # the write really failed
        redis_client.execute_command("ACL", "SETUSER", USER, "+xadd")  # the fault is over
        # the entries are still pending: claimed again after the claim idle time, regrouped
        assert wait_for(lambda: admin.xlen(fleet.keys.events) >= 1, 30), log_path.read_text()[-2000:]
        assert wait_for(lambda: len(Hooks.received) >= 1, 10)
        time.sleep(2.0)  # no second event, no second webhook comes later
        events = [json.loads(f[b"event"]) for _, f in admin.xrange(fleet.keys.events)]
        assert [e["plate"] for e in events] == ["FLT1234"], events
        assert [h["plate"] for h in Hooks.received] == ["FLT1234"]
        assert wait_for(lambda: int(admin.xpending(fleet.keys.results, "dispatch")["pending"]) == 0, 5)
        assert fleet.alive("dispatcher")
    finally:
        fleet.stop_all()
        server.shutdown()
        redis_client.execute_command("ACL", "DELUSER", USER)
        admin.close()
