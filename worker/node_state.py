"""What a node may take now: which queues (a drained node only its own) and whether it stops.

Two outside events change it, each through one method: the heartbeat reports an operator's
drain (`set_drained`), the RQ worker's SIGTERM handler the stop (`request_stop`). The RQ
dequeue (worker.node.FleetWorker) and the job runner's drains (worker.processor) read it;
nothing else holds these flags.
"""
import logging
from typing import List, Sequence

log = logging.getLogger(__name__)


class NodeState(object):
    """The node's drain and stop state, and the queues that follow from it."""

    def __init__(self, node: str, queues: Sequence[str], shared_queue: str) -> None:
        self.node = node
        self.all_queues = list(queues)  # listening order: node queue first, then shared
        self.shared_queue = shared_queue
        self.drained = False  # an operator drained the node (`alpr fleet drain`)
        self.stop_requested = False  # SIGTERM: finish the current frame, drain no more, stop

    def queue_names(self) -> List[str]:
        """Queues to take work from now: a drained node keeps only its own queue."""
        if self.drained:
            return [q for q in self.all_queues if q != self.shared_queue]
        return list(self.all_queues)

    def set_drained(self, drained: bool) -> None:
        """The heartbeat's report of the node's drain mark (logged when it changes)."""
        drained = bool(drained)
        if drained != self.drained:
            log.info("node %s %s", self.node, "drained: finishing own queue only" if drained
                     else "undrained: taking shared work again")
        self.drained = drained

    def request_stop(self) -> None:
        """Warm shutdown: the frame in the engine finishes, no further job is drained."""
        self.stop_requested = True
