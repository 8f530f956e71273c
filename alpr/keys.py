"""Every Redis key the fleet uses, in one place, under one configurable namespace.

See docs/architecture.md for who writes and reads each key.
"""


class Keys:
    """Key names for one namespace (default ``alpr:``)."""

    def __init__(self, namespace: str = "alpr:") -> None:
        self.ns = namespace

    def frame(self, frame_id: str) -> str:
        """String: one msgpack frame envelope, EX = the frame's max age."""
        return "%sframe:%s" % (self.ns, frame_id)

    def inflight(self, camera: str) -> str:
        """Sorted set: frame ids of a camera waiting or running, scored by enqueue time."""
        return "%sinflight:%s" % (self.ns, camera)

    def running(self, node: str) -> str:
        """Hash: ids of the frames the node is processing now (their bodies: held:{id})."""
        return "%srunning:%s" % (self.ns, node)

    def held(self, frame_id: str) -> str:
        """String: a claimed frame's envelope, renamed from frame:{id} (no TTL) until its
        finish, or until a reaper renames it back for another node."""
        return "%sheld:%s" % (self.ns, frame_id)

    @property
    def queued(self) -> str:
        """Hash: frame id -> '<push number> <RQ queue list>' while its job waits in a queue;
        written with the job's RPUSH (the put's MULTI, enqueue_requeued), removed by the
        drain's pop, the claim and every terminal state (the orphan sweep reads it)."""
        return "%squeued" % self.ns

    @property
    def queue_seq(self) -> str:
        """String: the counter numbering jobs in push order (queued's push numbers)."""
        return "%squeue_seq" % self.ns

    def evidence(self, frame_id: str) -> str:
        """String: a finished frame's evidence (plate crops, snapshot; msgpack), PX = the
        frame's max age: the dispatcher takes it as it reads the frame's result."""
        return "%sevidence:%s" % (self.ns, frame_id)

    def orphans(self, camera: str) -> str:
        """Hash: frame id -> when the sweep first saw it in flight, stored, on no node, unqueued."""
        return "%sorphans:%s" % (self.ns, camera)

    def counts(self, camera: str) -> str:
        """Hash: produced / read / stale / dropped / failed:<reason> counters of a camera."""
        return "%scount:%s" % (self.ns, camera)

    @property
    def cameras(self) -> str:
        """Set: every camera id that ever produced a frame."""
        return "%scameras" % self.ns

    @property
    def results(self) -> str:
        """Stream: one terminal record per frame (read / stale / failed)."""
        return "%sresults" % self.ns

    @property
    def events(self) -> str:
        """Stream: one plate event per vehicle visit."""
        return "%sevents" % self.ns

    @property
    def alerts(self) -> str:
        """Stream: one record per fired alert (field "json": the alert as a JSON object)."""
        return "%salerts" % self.ns

    def recent(self, camera: str = "") -> str:
        """Sorted set: plate text scored by last-seen time, per camera or global."""
        return "%srecent:%s" % (self.ns, camera) if camera else "%srecent" % self.ns

    def node_alive(self, node: str) -> str:
        """String with TTL: present while the node heartbeats."""
        return "%snode:%s:alive" % (self.ns, node)

    def node_stats(self, node: str) -> str:
        """Hash: a node's fps, latency, engine info, counters."""
        return "%snode:%s:stats" % (self.ns, node)

    @property
    def nodes(self) -> str:
        """Set: every node name that ever registered."""
        return "%snodes" % self.ns

    def queue(self, name: str) -> str:
        """RQ queue name of a shared frame queue (``--queue``), under the namespace: two
        fleets on one Redis never take each other's frames."""
        return "%s%s" % (self.ns, name)

    def node_queue(self, node: str) -> str:
        """RQ queue name for frames pinned to one node, under the namespace."""
        return "%snode-%s" % (self.ns, node)

    def drained(self) -> str:
        """Set: nodes an operator drained; they stop taking shared-queue work."""
        return "%sdrained" % self.ns

    @property
    def security(self) -> str:
        """Hash: refused jobs / payload counters (pickle, non-allowlisted functions)."""
        return "%ssecurity" % self.ns

    @property
    def dispatcher_stats(self) -> str:
        """Hash: the running dispatcher's counters (MQTT published / deferred / dropped,
        alerts), rewritten every few seconds; `alpr status` shows them."""
        return "%sdispatcher:stats" % self.ns

    @property
    def watch_mark(self) -> str:
        """String set by the fleet watch; its absence tells a Redis that lost its data (counted once)."""
        return "%swatch_mark" % self.ns
