#!/usr/bin/env python3
"""Writes tests/specs/: the parts of the CRMs' official OpenAPI files that the spec-conformance tests use.

    python scripts/extract_specs.py --from DIR      # DIR holds hubspot/*.json and pipedrive/*.yml as published

The tests validate every request the connectors send and every answer the sandboxes give against the CRMs'
own API descriptions, and a test must not read outside this repository: so the descriptions live here, cut
down to what a validator reads (paths, parameters, request bodies, responses, schemas, security schemes),
without the prose (descriptions, summaries, examples, vendor extensions), which is most of their size.
Pipedrive's files describe the whole API: only the endpoint families crmsync calls are kept, with every
component they reference. HubSpot's files are one CRM object each and are kept whole.

Each source is named below with where it was published: the repository, the path and the commit at which
the copied file first appeared there, and the file's git blob id, which this script checks before it
writes anything (a different file is refused: update SOURCES from the new file's history). The
provenance is written into tests/specs/README.md and into each extracted file (`x-crmsync-source`).

Salesforce publishes no OpenAPI description of its REST sObject API: its requests are checked against the
documented shapes in the Salesforce tests instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "tests" / "specs"

HUBSPOT_REPO = "HubSpot/HubSpot-public-api-spec-collection"
PIPEDRIVE_REPO = "api-evangelist/pipedrive"  # a copy of the files Pipedrive publishes on developers.pipedrive.com


@dataclass(frozen=True)
class Source:
    name: str  # under hubspot/ or pipedrive/, in the source folder and in tests/specs alike
    repository: str
    path: str  # in the repository
    commit: str  # the commit at which this very file (blob) first appeared there
    blob: str  # `git hash-object` of the file
    keep: tuple[str, ...] = ()  # path prefixes to keep; empty: every path

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}/blob/{self.commit}/{self.path}"


def _hubspot(name: str, path: str, commit: str, blob: str) -> Source:
    return Source(f"hubspot/{name}", HUBSPOT_REPO, f"PublicApiSpecs/CRM/{path}", commit, blob)


SOURCES = (
    _hubspot("contacts.v3.json", "Contacts/Rollouts/424/v3/contacts.json",
             "ab9ffa9c6f456fd8fce017f3d36fe619cbe88315", "f8756dfb6023dc7d26dd71e043331034e7301eb2"),
    _hubspot("deals.v3.json", "Deals/Rollouts/424/v3/deals.json",
             "fea35957832844975bb105130a5b1cbb11cd2408", "862f219ed7a6e45459dfaeae9bb5d4bbf3199391"),
    _hubspot("calls.v3.json", "Calls/Rollouts/424/v3/calls.json",
             "f041baf729807383e0a64fdf21e88d630fc23f0c", "c8e4c486590e3b1dfbe8e2aa5fc559e92dc6e9c9"),
    _hubspot("emails.v3.json", "Emails/Rollouts/424/v3/emails.json",
             "4802d8f1b6b1537db610043d561aac7d8002d447", "e9e694375ba4cf46ec4334c8f4a5277ae7cb0d86"),
    _hubspot("meetings.v3.json", "Meetings/Rollouts/424/v3/meetings.json",
             "32a6d73687b713d652a944b867c3693bc1c49260", "9a3772741bd6ea40731c6c55d9a909c6f14ad4d1"),
    _hubspot("notes.v3.json", "Notes/Rollouts/424/v3/notes.json",
             "265e0d7864c035b4ba32f38636608c2ae65d579d", "82a74b9935f6007c6326db41e07f067dd1b98a51"),
    _hubspot("tasks.v3.json", "Tasks/Rollouts/424/v3/tasks.json",
             "f1f4cfa3cbb7988617c45014a9f86d236f932914", "c650b9e8ab2c8c34af7ddf49741b8ac10d580ec3"),
    _hubspot("associations.v4.json", "Associations/Rollouts/130902/v4/associations.json",
             "89a281c11cb9b0a6c06ce886bd095b842b3eab89", "a010554b4656884d15455cf000fbb252c8123be1"),
    _hubspot("properties.v3.json", "Properties/Rollouts/145899/v3/properties.json",
             "bb3415e6783b04fcb3f1bbd2383542389789548f", "4989fe47d41f03d1807e2231a877783fbe3aff04"),
    _hubspot("communications.v3.json", "Communications/Rollouts/424/v3/communications.json",
             "010378c3fa4a355c71e291c0480ea1c0a4fc89b7", "ebeef892b35747b1ccfd0dcdc4bf9ca6f3cf139f"),
    _hubspot("companies.v3.json", "Companies/Rollouts/424/v3/companies.json",
             "17e9bdc260df7f8eb0c18cf69cdc0b49c1678720", "d02ccb1864833ff6235b184f366d8236671ed3e6"),
    # v2: the endpoint families the connector and the sandbox use (their sub-paths too, for what comes next)
    Source("pipedrive/openapi-v2.yml", PIPEDRIVE_REPO, "openapi/pipedrive-v2-openapi.yml",
           "254d3af489e6b92ad751483991001370cd1c2053", "40d41aec76837cef537ff458fb06cb7b126e12d0",
           keep=("/persons", "/deals", "/activities", "/organizations", "/stages", "/dealFields")),
    # v1: custom person fields, the token's user (health), OAuth's token endpoint, and merging two persons
    Source("pipedrive/openapi-v1.yml", PIPEDRIVE_REPO, "openapi/pipedrive-v1-openapi.yml",
           "254d3af489e6b92ad751483991001370cd1c2053", "f2b79b96dd8dcc58df907eae00648fba4a32fa20",
           keep=("/personFields", "/users/me", "/oauth/token", "/persons/{id}/merge")),
)

#: keys whose value is prose or an illustration, never read by a validator
PROSE = frozenset({"description", "summary", "externalDocs", "example", "examples", "tags", "termsOfService",
                   "contact", "license"})
#: keys whose value maps names (of properties, paths, status codes, media types...) to objects: its keys are
#: kept whatever they are called (a schema may well have a property named "description")
NAME_MAPS = frozenset({"properties", "patternProperties", "paths", "responses", "schemas", "parameters",
                       "requestBodies", "headers", "securitySchemes", "content", "links", "callbacks", "encoding",
                       "scopes", "mapping", "variables", "definitions", "$defs"})


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def strip(node: Any, *, names: bool = False, response: bool = False) -> Any:
    """`node` without prose; a response object keeps an empty `description` (OpenAPI requires one)."""
    if isinstance(node, list):
        return [strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if names:
            out[key] = strip(value, response=False)
        elif key in PROSE or key.startswith("x-"):
            continue
        else:
            out[key] = strip(value, names=key in NAME_MAPS and isinstance(value, dict))
    if response and "$ref" not in out:
        out["description"] = ""
    return out


def strip_document(document: dict[str, Any]) -> dict[str, Any]:
    out = strip(document)
    out["info"] = {"title": document["info"]["title"], "version": document["info"]["version"]}
    for item in out.get("paths", {}).values():  # responses are named by status: mark them as responses
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"] = {code: strip(response, response=True)
                                          for code, response in operation["responses"].items()}
    for name, response in out.get("components", {}).get("responses", {}).items():
        out["components"]["responses"][name] = strip(response, response=True)
    return out


def references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= references(value)
        return found
    if isinstance(node, list):
        return set().union(*(references(item) for item in node)) if node else set()
    return set()


def prune(document: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    """Only the paths under `keep`, and only the components they reference (transitively)."""
    document["paths"] = {path: item for path, item in document["paths"].items()
                         if any(path == prefix or path.startswith(prefix + "/") for prefix in keep)}
    components = document.get("components", {})
    wanted: set[tuple[str, str]] = set()
    todo = references(document["paths"])
    while todo:
        ref = todo.pop()
        if not ref.startswith("#/components/"):
            continue
        kind, name = ref.removeprefix("#/components/").split("/", 1)
        if (kind, name) in wanted or name not in components.get(kind, {}):
            continue
        wanted.add((kind, name))
        todo |= references(components[kind][name])
    document["components"] = {
        kind: ({name: value for name, value in entries.items() if (kind, name) in wanted}
               if kind != "securitySchemes" else entries)
        for kind, entries in components.items()}
    return document


def extract(source: Source, folder: Path) -> dict[str, Any]:
    data = (folder / source.name).read_bytes()
    found = git_blob_id(data)
    if found != source.blob:
        raise SystemExit(f"{folder / source.name}: git blob {found}, not the recorded {source.blob} "
                         f"({source.url}): a different file; record its source in SOURCES first")
    loader: Callable[[bytes], Any] = json.loads if source.name.endswith(".json") else (
        lambda raw: yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    document = strip_document(loader(data))
    if source.keep:
        document = prune(document, source.keep)
    document["x-crmsync-source"] = {"repository": source.repository, "path": source.path,
                                    "commit": source.commit, "git_blob": source.blob, "url": source.url}
    return document


def write(source: Source, document: dict[str, Any]) -> int:
    target = TARGET / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.name.endswith(".json"):
        text = json.dumps(document, indent=1, ensure_ascii=False, sort_keys=False) + "\n"
    else:
        text = yaml.dump(document, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                         allow_unicode=True, width=120)
    target.write_text(text, encoding="utf-8")
    return len(text.encode())


README = """\
# The CRMs' official OpenAPI descriptions, as the tests use them

Written by `scripts/extract_specs.py` (run it again to update them; it says how). Each file is the
published description cut down to what a validator reads: paths, parameters, request bodies, responses,
schemas and security schemes, without descriptions, summaries, examples or vendor extensions. Pipedrive's
keep only the endpoint families crmsync calls. The tests find them through the `find_specs` fixture
(tests/connectors/conftest.py).

| file | published in | path | commit |
|---|---|---|---|
{rows}

Salesforce publishes no static OpenAPI description of its REST sObject API: the Salesforce tests check
requests against the shapes its REST API Developer Guide documents instead.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, required=True,
                        help="folder holding hubspot/*.json and pipedrive/*.yml as published")
    args = parser.parse_args()
    documents = [(source, extract(source, args.source)) for source in SOURCES]  # check every file first
    for source, document in documents:
        size = write(source, document)
        print(f"{TARGET / source.name}: {len(document['paths'])} paths, {size / 1000:.0f} kB "
              f"(from {(args.source / source.name).stat().st_size / 1000:.0f} kB)")
    rows = "\n".join(f"| `{s.name}` | [{s.repository}](https://github.com/{s.repository}) | `{s.path}` | "
                     f"[{s.commit[:12]}]({s.url}) |" for s in SOURCES)
    (TARGET / "README.md").write_text(README.format(rows=rows), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
