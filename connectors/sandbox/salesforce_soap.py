"""The Metadata API (SOAP, `/services/Soap/m/{version}`) part of the Salesforce sandbox: `createMetadata`
for CustomField components, answered with real `createMetadataResponse` envelopes (one `SaveResult` per
component, in order) and `soapenv:Fault` for a bad session, as the org does.

A field that exists but is hidden from the integration user (no field-level security) answers
DUPLICATE_DEVELOPER_NAME, like the real org: it exists, the user just cannot see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from connectors.sandbox.salesforce_store import Org

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_COMPONENTS = 10
FIELD_TYPES = {
    "Number": "double",
    "Text": "string",
    "Checkbox": "boolean",
    "DateTime": "datetime",
    "Date": "date",
    "LongTextArea": "textarea",
    "Picklist": "picklist",
}


def envelope(body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
        f'xmlns="{METADATA_NS}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    )


def fault(code: str, message: str) -> Response:
    body = (
        f"<soapenv:Fault><faultcode>sf:{escape(code)}</faultcode>"
        f"<faultstring>{escape(code)}: {escape(message)}</faultstring></soapenv:Fault>"
    )
    return Response(envelope(body), status=500, content_type="text/xml; charset=utf-8")


def invalid_session() -> Response:
    return fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")


def _text(element: ElementTree.Element, name: str) -> str | None:
    child = element.find(f"{{{METADATA_NS}}}{name}")
    return child.text if child is not None else None


def _save_result(full_name: str, errors: list[tuple[str, str]]) -> str:
    parts = "".join(
        f"<errors><message>{escape(message)}</message><statusCode>{code}</statusCode></errors>"
        for code, message in errors
    )
    success = "false" if errors else "true"
    return f"<result>{parts}<fullName>{escape(full_name)}</fullName><success>{success}</success></result>"


class MetadataApi:
    """Answers Metadata API calls against an `Org`."""

    def __init__(
        self, org: Org, *, session_ok: Callable[[str], bool], grant_fls_on_create: Callable[[], bool]
    ):
        self.org = org
        self.session_ok = session_ok
        self.grant_fls_on_create = grant_fls_on_create
        self.created: list[str] = []

    def __call__(self, request: Request) -> Response:
        try:
            root = ElementTree.fromstring(request.get_data())
        except ElementTree.ParseError:
            return fault("INVALID_XML", "the request is not well-formed XML")
        session = root.find(f".//{{{METADATA_NS}}}SessionHeader/{{{METADATA_NS}}}sessionId")
        if session is None or not self.session_ok(session.text or ""):
            return invalid_session()
        body = root.find(f"{{{SOAP_ENV}}}Body")
        operation = body[0] if body is not None and len(body) else None
        if operation is None or operation.tag != f"{{{METADATA_NS}}}createMetadata":
            name = operation.tag.split("}")[-1] if operation is not None else "none"
            return fault("UNKNOWN_EXCEPTION", f"operation {name} is not supported by the sandbox")
        components = operation.findall(f"{{{METADATA_NS}}}metadata")
        if len(components) > MAX_COMPONENTS:
            return fault("EXCEEDED_ID_LIMIT", f"createMetadata accepts at most {MAX_COMPONENTS} components")
        results = "".join(self._create(component) for component in components)
        return Response(
            envelope(f"<createMetadataResponse>{results}</createMetadataResponse>"),
            content_type="text/xml; charset=utf-8",
        )

    def _create(self, component: ElementTree.Element) -> str:
        full_name = _text(component, "fullName") or ""
        kind = component.get(f"{{{XSI}}}type", "")
        if kind.split(":")[-1] != "CustomField":
            return _save_result(
                full_name, [("INVALID_TYPE", f"the sandbox creates CustomField only, not {kind}")]
            )
        sobject, _, name = full_name.partition(".")
        field_type = _text(component, "type") or ""
        errors = self._check(sobject, name, field_type, component)
        if errors:
            return _save_result(full_name, errors)
        meta: dict[str, Any] = {
            key: _text(component, key)
            for key in ("label", "length", "precision", "scale", "defaultValue", "description")
        }
        self.org.add_custom_field(sobject, name, FIELD_TYPES[field_type], meta)
        if not self.grant_fls_on_create():
            self.org.hidden.add((sobject, name))
        self.created.append(full_name)
        return _save_result(full_name, [])

    def _check(
        self, sobject: str, name: str, field_type: str, component: ElementTree.Element
    ) -> list[tuple[str, str]]:
        if sobject not in self.org.schema:
            return [
                ("INVALID_CROSS_REFERENCE_KEY", f"In field: fullName - no CustomObject named {sobject} found")
            ]
        if not name.endswith("__c"):
            return [("FIELD_INTEGRITY_EXCEPTION", "Custom field names must end with __c")]
        if name in self.org.schema[sobject]:
            return [
                (
                    "DUPLICATE_DEVELOPER_NAME",
                    "There is already a field named " + name[:-3] + " on " + sobject + ".",
                )
            ]
        if field_type not in FIELD_TYPES:
            return [("FIELD_INTEGRITY_EXCEPTION", f"unsupported field type {field_type!r}")]
        if not _text(component, "label"):
            return [("REQUIRED_FIELD_MISSING", "Required field is missing: label")]
        if field_type == "Text" and not (_text(component, "length") or "").isdigit():
            return [("FIELD_INTEGRITY_EXCEPTION", "Length: You must enter a value")]
        if field_type == "Number" and _text(component, "precision") is None:
            return [("FIELD_INTEGRITY_EXCEPTION", "Precision: You must enter a value")]
        return []
