"""Contract checking against GitHub's official REST description (@octokit/openapi).

The 13 MB ``api.github.com.json`` is read once, and only the operations the
emulator serves are extracted together with the transitive closure of the
component schemas they reference. OpenAPI 3.0 schema objects are translated to
JSON Schema draft 4 (``nullable`` becomes a ``"null"`` type; ``oneOf`` becomes
``anyOf`` because GitHub's description has many overlapping ``oneOf`` branches
that GitHub itself violates under strict semantics). The result is cached in a
small JSON file keyed by the description's size, mtime and the operation list,
so later start-ups skip the big file altogether.

Validation uses ``jsonschema`` with a ``referencing`` registry holding the
extracted document, one compiled validator per (operation, part).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any, Dict, List, Optional, Tuple

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

EXTRACTOR_VERSION = "4"
BASE_URI = "urn:github-openapi"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPEC = os.path.join(HERE, "node_modules", "@octokit", "openapi", "generated", "api.github.com.json")

_DROP_KEYS = {"example", "examples", "externalDocs", "xml", "discriminator", "x-github", "deprecated"}


def _convert(schema: Any) -> Any:
    """OpenAPI 3.0 schema object -> JSON Schema draft 4 (recursively)."""
    if isinstance(schema, list):
        return [_convert(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Dict[str, Any] = {}
    for key, val in schema.items():
        if key in _DROP_KEYS or key.startswith("x-"):
            continue
        if key == "properties" and isinstance(val, dict):
            out[key] = {k: _convert(v) for k, v in val.items()}
        elif key == "oneOf":
            out["anyOf"] = _convert(val)
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf"):
            out[key] = _convert(val)
        elif key == "$ref" and isinstance(val, str):
            out[key] = val
        else:
            out[key] = val
    nullable = out.pop("nullable", False)
    if "$ref" in out:
        # In OpenAPI 3.0 siblings of $ref are ignored.
        ref = {"$ref": out["$ref"]}
        return {"anyOf": [ref, {"type": "null"}]} if nullable else ref
    if nullable:
        if "type" in out:
            t = out["type"]
            out["type"] = list(dict.fromkeys((t if isinstance(t, list) else [t]) + ["null"]))
            if "enum" in out and None not in out["enum"]:
                out["enum"] = list(out["enum"]) + [None]
        elif any(k in out for k in ("allOf", "anyOf")):
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _collect_refs(node: Any, acc: set) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            acc.add(ref)
        for v in node.values():
            _collect_refs(v, acc)
    elif isinstance(node, list):
        for v in node:
            _collect_refs(v, acc)


def _resolve_pointer(doc: Dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    cur: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        cur = cur[part]
    return cur


def _deref_non_schema(doc: Dict[str, Any], node: Any) -> Any:
    """Inline $refs to components/parameters, responses and headers."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and not node["$ref"].startswith(
            "#/components/schemas/"):
        node = _resolve_pointer(doc, node["$ref"])
    return node


def extract(spec: Dict[str, Any], operations: List[Tuple[str, str]]) -> Dict[str, Any]:
    """Build the small document the validators use."""
    ops: Dict[str, Any] = {}
    schema_refs: set = set()
    for method, template in operations:
        path_item = spec["paths"].get(template)
        if path_item is None or method.lower() not in path_item:
            raise KeyError(f"{method} {template} is not in GitHub's OpenAPI description")
        op = path_item[method.lower()]
        params = []
        for p in list(path_item.get("parameters", [])) + list(op.get("parameters", [])):
            p = _deref_non_schema(spec, p)
            params.append({
                "name": p["name"], "in": p["in"], "required": bool(p.get("required")),
                "schema": _convert(p.get("schema", {})),
            })
        request = None
        rb = _deref_non_schema(spec, op.get("requestBody"))
        if rb:
            content = rb.get("content", {})
            media = content.get("application/json") or next(iter(content.values()), {})
            request = {"required": bool(rb.get("required")), "schema": _convert(media.get("schema", {}))}
        responses = {}
        for status, resp in op.get("responses", {}).items():
            resp = _deref_non_schema(spec, resp)
            content = resp.get("content") or {}
            schema = None
            media_types = sorted(content.keys())
            if "application/json" in content:
                schema = _convert(content["application/json"].get("schema", {}))
            elif content:
                first = next(iter(content.values()))
                schema = _convert(first.get("schema", {})) if "json" in media_types[0] else None
            headers = {}
            for hname, h in (resp.get("headers") or {}).items():
                h = _deref_non_schema(spec, h)
                headers[hname.lower()] = {"required": bool(h.get("required")),
                                          "schema": _convert(h.get("schema", {}))}
            responses[status] = {"schema": schema, "media_types": media_types, "headers": headers}
        key = f"{method.upper()} {template}"
        ops[key] = {"operationId": op.get("operationId"), "parameters": params, "request": request,
                    "responses": responses}
        _collect_refs(ops[key], schema_refs)
    # transitive closure of component schemas
    components: Dict[str, Any] = {}
    pending = list(schema_refs)
    seen = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix):
            raise ValueError(f"unexpected $ref {ref}")
        name = ref[len(prefix):].replace("~1", "/").replace("~0", "~")
        converted = _convert(spec["components"]["schemas"][name])
        components[name] = converted
        inner: set = set()
        _collect_refs(converted, inner)
        pending.extend(inner - seen)
    return {
        "source": {"title": spec.get("info", {}).get("title"), "version": spec.get("info", {}).get("version"),
                   "openapi": spec.get("openapi")},
        "operations": ops,
        "components": {"schemas": components},
    }


def _cache_key(spec_path: str, operations: List[Tuple[str, str]]) -> str:
    st = os.stat(spec_path)
    h = hashlib.sha256()
    h.update(f"{EXTRACTOR_VERSION}|{os.path.realpath(spec_path)}|{st.st_size}|{int(st.st_mtime)}".encode())
    for m, t in sorted(operations):
        h.update(f"|{m.upper()} {t}".encode())
    return h.hexdigest()[:24]


def load_contract(spec_path: str, cache_dir: str, operations: List[Tuple[str, str]]) -> Dict[str, Any]:
    key = _cache_key(spec_path, operations)
    cache_file = os.path.join(cache_dir, f"openapi-subset-{key}.json")
    if os.path.exists(cache_file):
        with open(cache_file, "r", encoding="utf-8") as f:
            return json.load(f)
    with open(spec_path, "r", encoding="utf-8") as f:
        spec = json.load(f)
    doc = extract(spec, operations)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{cache_file}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, cache_file)
    return doc


def _path_of(err: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
    return "$" + path


def _describe(errors: List[jsonschema.ValidationError], limit: int = 5) -> List[str]:
    out = []
    for err in errors[:limit]:
        best = err
        if err.context:
            # for anyOf failures, report the most specific sub-error
            best = jsonschema.exceptions.best_match([err]) or err
        msg = best.message
        if len(msg) > 300:
            msg = msg[:300] + "..."
        out.append(f"{_path_of(best)}: {msg}")
    return out


class Contract:
    """Validators for the extracted operations."""

    def __init__(self, doc: Dict[str, Any]):
        self.doc = doc
        self.registry = Registry().with_resource(BASE_URI, Resource.from_contents(doc, default_specification=DRAFT4))
        self._validators: Dict[str, jsonschema.Draft4Validator] = {}
        self._lock = threading.Lock()

    def has(self, method: str, template: str) -> bool:
        return f"{method.upper()} {template}" in self.doc["operations"]

    def operation(self, method: str, template: str) -> Dict[str, Any]:
        return self.doc["operations"][f"{method.upper()} {template}"]

    def _validator(self, pointer: str) -> jsonschema.Draft4Validator:
        v = self._validators.get(pointer)
        if v is None:
            with self._lock:
                v = self._validators.get(pointer)
                if v is None:
                    v = jsonschema.Draft4Validator({"$ref": f"{BASE_URI}#{pointer}"}, registry=self.registry)
                    self._validators[pointer] = v
        return v

    @staticmethod
    def _escape(s: str) -> str:
        return s.replace("~", "~0").replace("/", "~1")

    def _op_pointer(self, method: str, template: str) -> str:
        return "/operations/" + self._escape(f"{method.upper()} {template}")

    def _check(self, pointer: str, value: Any) -> List[str]:
        errors = sorted(self._validator(pointer).iter_errors(value), key=lambda e: list(e.absolute_path))
        return _describe(errors)

    # -------------------------------------------------------------- requests
    @staticmethod
    def _coerce(value: str, schema: Dict[str, Any]) -> Any:
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        if "integer" in types or "number" in types:
            try:
                return int(value)
            except ValueError:
                try:
                    return float(value) if "number" in types else value
                except ValueError:
                    return value
        if "boolean" in types and value in ("true", "false"):
            return value == "true"
        return value

    def check_request(self, method: str, template: str, path_params: Dict[str, str],
                      query: Dict[str, List[str]], body: Any, has_body: bool) -> List[str]:
        """Problems with a request (empty list when it conforms)."""
        op = self.operation(method, template)
        problems: List[str] = []
        base = self._op_pointer(method, template)
        declared_query = set()
        for idx, p in enumerate(op["parameters"]):
            ptr = f"{base}/parameters/{idx}/schema"
            if p["in"] == "path":
                if p["name"] not in path_params:
                    problems.append(f"path parameter {p['name']!r} missing")
                    continue
                val = self._coerce(path_params[p["name"]], p["schema"])
                for e in self._check(ptr, val):
                    problems.append(f"path parameter {p['name']!r}: {e}")
            elif p["in"] == "query":
                declared_query.add(p["name"])
                if p["name"] not in query:
                    if p["required"]:
                        problems.append(f"query parameter {p['name']!r} is required")
                    continue
                vals = query[p["name"]]
                if len(vals) > 1 and p["schema"].get("type") != "array":
                    problems.append(f"query parameter {p['name']!r} given {len(vals)} times")
                val = self._coerce(vals[-1], p["schema"])
                for e in self._check(ptr, val):
                    problems.append(f"query parameter {p['name']!r}: {e}")
        for name in query:
            if name not in declared_query:
                problems.append(f"query parameter {name!r} is not defined for this operation")
        req = op["request"]
        if req is None:
            if has_body and body not in (None, {}, ""):
                problems.append("operation takes no request body, but one was sent")
        else:
            if not has_body:
                if req["required"]:
                    problems.append("request body is required")
            else:
                for e in self._check(f"{base}/request/schema", body):
                    problems.append(f"request body {e}")
        return problems

    # -------------------------------------------------------------- responses
    def check_response(self, method: str, template: str, status: int, body: Any, has_body: bool,
                       content_type: str, headers: Dict[str, str]) -> List[str]:
        op = self.operation(method, template)
        base = self._op_pointer(method, template)
        if status == 304 and method.upper() in ("GET", "HEAD"):
            # a conditional request answered "Not Modified": valid on every GET (REST docs,
            # "conditional requests"), though the description lists it for few operations
            return ["304 Not Modified must not carry a body"] if has_body else []
        key = str(status)
        resp = op["responses"].get(key)
        if resp is None:
            resp = op["responses"].get(f"{key[0]}XX") or op["responses"].get("default")
            rkey = f"{key[0]}XX" if f"{key[0]}XX" in op["responses"] else "default"
        else:
            rkey = key
        problems: List[str] = []
        if resp is None:
            if status < 400:
                return [f"response status {status} is not documented for {op['operationId']}"]
            # GitHub returns 401/403/404/422/429/5xx on nearly every operation even
            # where the description does not list them: accept a basic-error body.
            if has_body and "json" in content_type:
                if not isinstance(body, dict) or not isinstance(body.get("message"), str):
                    problems.append(f"undocumented error status {status} must carry a basic-error body")
            return problems
        lower = {k.lower(): v for k, v in headers.items()}
        for hname, h in resp.get("headers", {}).items():
            if h["required"] and hname not in lower:
                problems.append(f"response header {hname!r} is required")
        if resp["schema"] is None:
            if has_body and resp["media_types"] == []:
                if status >= 400:
                    # documented without a body, yet GitHub sends its usual error JSON
                    if "json" in content_type and (not isinstance(body, dict) or
                                                   not isinstance(body.get("message"), str)):
                        problems.append(f"error status {status} must carry a basic-error body")
                else:
                    problems.append(f"status {status} documents no body, but one was sent")
            return problems
        if not has_body:
            problems.append(f"status {status} documents a body, but none was sent")
            return problems
        if "json" not in content_type:
            return problems
        ptr = f"{base}/responses/{self._escape(rkey)}/schema"
        for e in self._check(ptr, body):
            problems.append(f"response body {e}")
        return problems


def load(operations: List[Tuple[str, str]], cache_dir: str, spec_path: Optional[str] = None) -> Contract:
    return Contract(load_contract(spec_path or DEFAULT_SPEC, cache_dir, operations))

