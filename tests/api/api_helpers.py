"""An API app over a real store and evidence directory, driven through httpx's TestClient."""
import os

from fastapi.testclient import TestClient

from api.app import create_app
from store.evidence import EvidenceDir


def client_for(store, root, token="", fleet=None):
    evidence = EvidenceDir(str(root))
    return TestClient(create_app(store, evidence, fleet, token=token)), evidence


def stored_with_evidence(store, evidence, event, crop=b"\xff\xd8crop", frame=b"\xff\xd8frame"):
    paths = evidence.put(event, crop, frame)
    store.write_events([(event, paths)])
    assert evidence.read(paths["crop"]) == crop and os.path.isfile(paths["pack"])
    return paths
