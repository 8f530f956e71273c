"""The REST API (`alpr serve`): events, evidence, known plates and the fleet over HTTP.

FastAPI routers, one file per resource (api/routers/), as Frigate lays its API out, so the
console's HTML pages can be added beside them. Python 3.11 server side only.
"""
