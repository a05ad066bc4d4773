"""The HubSpot sandbox's schema endpoints: deal pipelines (`GET /crm/v3/pipelines/<type>`), contact
properties and property groups (list, read, create; 201, or 409 OBJECT_ALREADY_EXISTS for a name taken),
and the batch creation of properties ("CRM API | Properties", `POST /crm/v3/properties/{objectType}/batch/create`:
201 when every one was created, 207 with an error per property that could not be, an invalid input refusing
the whole batch with 400). What the connector reads to map deal stages and calls to create the properties
crmsync writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.hubspot_errors import error_response
from connectors.sandbox.hubspot_store import DEAL_STAGES, HubSpotStore, ValidationFailure, iso
from connectors.sandbox.server import json_response


class HubSpotMetadataApi:
    """Pipelines, properties and property groups of one sandbox account (the store holds them)."""

    def __init__(self, store: HubSpotStore, correlation: Callable[[], str]) -> None:
        self.store = store
        self.correlation = correlation

    def pipelines(self, request: Request, object_type: str) -> Response:
        created = iso(0)
        stages = [{"id": sid, "label": label, "displayOrder": index, "metadata": {"isClosed": closed,
                                                                              "probability": probability},
                   "archived": False, "createdAt": created, "updatedAt": created,
                   "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
                  for index, (sid, label, closed, probability) in enumerate(DEAL_STAGES)]
        return json_response({"results": [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0,
                                           "archived": False, "createdAt": created, "updatedAt": created,
                                           "stages": stages if object_type == "deals" else []}]})

    def properties(self, request: Request, object_type: str) -> Response:
        if request.method == "GET":
            found = {"contacts": self.store.properties, "companies": self.store.company_properties}
            return json_response({"results": list(found.get(object_type, {}).values())})
        body = request.get_json(force=True)
        with self.store.lock:
            if body.get("name") in self.store.properties:
                return error_response(409, "OBJECT_ALREADY_EXISTS", f"A property named '{body['name']}' already "
                                      "exists.", self.correlation(), context={"name": [str(body["name"])]})
            definition = self.store.create_property(body)
        return json_response(definition, status=201)

    def batch_create(self, request: Request, object_type: str) -> Response:
        if object_type != "contacts":
            raise ValidationFailure(f"The sandbox creates contact properties only, not {object_type}")
        inputs = request.get_json(force=True).get("inputs") or []
        if len(inputs) > 100:
            raise ValidationFailure("Batch input limit is 100")
        created: list[dict[str, Any]] = []
        taken: list[str] = []
        with self.store.lock:
            for body in inputs:  # the whole batch is checked before anything is created
                missing = [key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)]
                if missing or body.get("groupName") not in self.store.groups:
                    raise ValidationFailure(f"Property {body.get('name')!r} is invalid: missing {missing} or "
                                            f"unknown group {body.get('groupName')!r}")
            for body in inputs:
                if body["name"] in self.store.properties:
                    taken.append(str(body["name"]))
                else:
                    created.append(self.store.create_property(body))
        now = iso(self.store.now())
        answer: dict[str, Any] = {"status": "COMPLETE", "results": created, "startedAt": now, "completedAt": now}
        if not taken:
            return json_response(answer, status=201)
        answer.update(numErrors=len(taken), errors=[{
            "status": "error", "category": "OBJECT_ALREADY_EXISTS",
            "message": f"A property named '{name}' already exists.", "context": {"name": [name]}, "errors": [],
            "links": {}} for name in taken])
        return json_response(answer, status=207)

    def property(self, request: Request, object_type: str, name: str) -> Response:
        definition = self.store.properties.get(name) if object_type == "contacts" else None
        if definition is None:
            return error_response(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}.", self.correlation())
        return json_response(definition)

    def groups(self, request: Request, object_type: str) -> Response:
        if request.method == "GET":
            return json_response({"results": list(self.store.groups.values())})
        body = request.get_json(force=True)
        with self.store.lock:
            if not body.get("name") or not body.get("label"):
                raise ValidationFailure("name and label are required")
            if body["name"] in self.store.groups:
                return error_response(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{body['name']}' "
                                      "already exists.", self.correlation(), context={"name": [str(body["name"])]})
            group = {"name": body["name"], "label": body["label"], "displayOrder": int(body.get("displayOrder", -1)),
                     "archived": False}
            self.store.groups[body["name"]] = group
        return json_response(group, status=201)

    def group(self, request: Request, object_type: str, name: str) -> Response:
        group = self.store.groups.get(name)
        if group is None:
            return error_response(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name}.", self.correlation())
        return json_response(group)
