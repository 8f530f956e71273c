"""Known plates CRUD: /api/known-plates (the dispatcher labels events from this list)."""
from typing import Any, Dict, List, Literal

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

router = APIRouter(tags=["known plates"])

PLATE = Path(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 \-]+$")


class KnownPlateBody(BaseModel):
    label: Literal["allow", "deny"]
    note: str = Field("", max_length=500)


class NewKnownPlate(KnownPlateBody):
    plate: str = Field(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 \-]+$")


@router.get("/api/known-plates")
def list_plates(request: Request) -> Dict[str, List[Dict[str, Any]]]:
    return {"known_plates": request.app.state.store.known_plates()}


@router.post("/api/known-plates", status_code=201)
def add_plate(body: NewKnownPlate, request: Request) -> Dict[str, Any]:
    return request.app.state.store.put_known_plate(body.plate, body.label, body.note)


@router.get("/api/known-plates/{plate}")
def get_plate(request: Request, plate: str = PLATE) -> Dict[str, Any]:
    found = request.app.state.store.known_plate(plate)
    if found is None:
        raise HTTPException(404, "plate %s is not a known plate" % plate)
    return found


@router.put("/api/known-plates/{plate}")
def put_plate(body: KnownPlateBody, request: Request, plate: str = PLATE) -> Dict[str, Any]:
    return request.app.state.store.put_known_plate(plate, body.label, body.note)


@router.delete("/api/known-plates/{plate}", status_code=204)
def delete_plate(request: Request, plate: str = PLATE) -> Response:
    if not request.app.state.store.delete_known_plate(plate):
        raise HTTPException(404, "plate %s is not a known plate" % plate)
    return Response(status_code=204)
