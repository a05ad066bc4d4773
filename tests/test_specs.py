"""tests/specs holds only what scripts/extract_specs.py wrote, each file saying where it was published."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "tests" / "specs"


def extractor():
    spec = importlib.util.spec_from_file_location("extract_specs", ROOT / "scripts" / "extract_specs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_every_spec_file_is_one_the_script_wrote_with_its_source():
    sources = {source.name: source for source in extractor().SOURCES}
    files = {str(path.relative_to(SPECS)) for path in SPECS.rglob("*") if path.is_file() and path.name != "README.md"}
    assert files == set(sources)
    readme = (SPECS / "README.md").read_text()
    for name, source in sources.items():
        text = (SPECS / name).read_text()
        document = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
        assert document["x-crmsync-source"] == {"repository": source.repository, "path": source.path,
                                                "commit": source.commit, "git_blob": source.blob,
                                                "url": source.url}
        assert source.commit[:12] in readme and f"`{name}`" in readme
        assert '"summary"' not in text and "summary:" not in text  # the prose is gone


def test_the_stripper_keeps_names_that_look_like_prose_keys():
    stripped = extractor().strip_document({
        "openapi": "3.0.0", "info": {"title": "t", "version": "1", "description": "long prose"},
        "paths": {"/deals": {"get": {"summary": "s", "responses": {"200": {"description": "ok", "content": {
            "application/json": {"schema": {"type": "object", "description": "d",
                                            "properties": {"description": {"type": "string"}}}}}}}}}}})
    operation = stripped["paths"]["/deals"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert stripped["info"] == {"title": "t", "version": "1"} and "summary" not in operation
    assert operation["responses"]["200"]["description"] == ""  # required by OpenAPI, emptied
    assert schema == {"type": "object", "properties": {"description": {"type": "string"}}}
