"""GET /docs: the OpenAPI document rendered as one plain HTML page on the
server. No scripts and nothing fetched from elsewhere (the mesh may be offline)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ccc;margin-top:2.5rem} h3{margin:1.6rem 0 .4rem}
code,pre{font:13px ui-monospace,monospace;background:#f4f4f4;border-radius:3px}
code{padding:0 .25rem} pre{padding:.6rem;overflow:auto}
table{border-collapse:collapse;margin:.4rem 0} td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
.verb{display:inline-block;min-width:4.2rem;font-weight:bold;text-transform:uppercase}
.get{color:#1565c0}.post{color:#2e7d32}.put,.patch{color:#ef6c00}.delete{color:#c62828}
nav ul{columns:2;list-style:none;padding:0} nav li{margin:.1rem 0}
"""

_REF = "#/components/schemas/"


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def _schema_text(schema: dict[str, Any]) -> str:
    """A one-line, linked rendering of a schema."""
    if not schema:
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF)
        return f'<a href="#schema-{_anchor(name)}">{escape(name.rsplit(".", 1)[-1])}</a>'
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_schema_text(schema.get('items', {}))}"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of string → {_schema_text(schema['additionalProperties'])}"
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " or ".join(_schema_text(s) for s in schema[combinator])
    text = escape(str(kind or "any"))
    if "format" in schema:
        text += f" ({escape(str(schema['format']))})"
    return text


def _body_text(media: str, schema: dict[str, Any]) -> str:
    """A response body; for an event stream, what each event's `data` holds."""
    if media == "text/event-stream":
        payload = schema.get("else", {}).get("properties", {}).get("data", {}).get("contentSchema")
        if payload is not None:
            return f"events, each <code>data:</code> {_schema_text(payload)}"
    return _schema_text(schema)


def _operation(path: str, verb: str, op: dict[str, Any]) -> str:
    out = [f'<h3 id="{_anchor(verb + path)}"><span class="verb {verb}">{verb}</span> <code>{escape(path)}</code></h3>']
    if op.get("summary"):
        out.append(f"<p>{escape(op['summary'])}</p>")
    if op.get("description"):
        out.append(f"<p>{escape(op['description'])}</p>")
    params = op.get("parameters") or []
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th></tr>")
        for p in params:
            out.append(f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
                       f"<td>{_schema_text(p.get('schema', {}))}</td><td>{'yes' if p.get('required') else ''}</td></tr>")
        out.append("</table>")
    body = op.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        out.append(f"<p>Request body (<code>{escape(media)}</code>): {_schema_text(content.get('schema', {}))}</p>")
    out.append("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>")
    for status, response in op.get("responses", {}).items():
        bodies = [f"<code>{escape(m)}</code> {_body_text(m, c.get('schema', {}))}"
                  for m, c in response.get("content", {}).items()]
        out.append(f"<tr><td>{escape(status)}</td><td>{escape(response.get('description', ''))}</td>"
                   f"<td>{'<br>'.join(bodies)}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _schema(name: str, schema: dict[str, Any]) -> str:
    out = [f'<h3 id="schema-{_anchor(name)}"><code>{escape(name)}</code></h3>']
    if schema.get("description"):
        out.append(f"<p>{escape(schema['description'])}</p>")
    properties = schema.get("properties")
    if properties:
        required = set(schema.get("required", []))
        out.append("<table><tr><th>field</th><th>type</th><th>required</th></tr>")
        for field, sub in properties.items():
            out.append(f"<tr><td><code>{escape(field)}</code></td><td>{_schema_text(sub)}</td>"
                       f"<td>{'yes' if field in required else ''}</td></tr>")
        out.append("</table>")
    elif schema:
        out.append(f"<pre>{escape(json.dumps(schema, indent=2))}</pre>")
    return "\n".join(out)


def render_docs(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    title = escape(info.get("title", "API"))
    operations = [(path, verb, op) for path, item in document.get("paths", {}).items() for verb, op in item.items()]
    nav = "".join(
        f'<li><a href="#{_anchor(verb + path)}"><span class="verb {verb}">{verb}</span> {escape(path)}</a></li>'
        for path, verb, _ in operations
    )
    schemas = document.get("components", {}).get("schemas", {})
    return "\n".join([
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{_STYLE}</style></head><body>',
        f"<h1>{title}</h1>",
        f"<p>Version {escape(str(info.get('version', '')))}. {escape(info.get('description', ''))}</p>",
        '<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a>. '
        "When API keys are configured, send <code>Authorization: Bearer &lt;key&gt;</code>.</p>",
        f"<nav><h2>Operations</h2><ul>{nav}</ul></nav>",
        "<h2>Operations</h2>",
        *(_operation(path, verb, op) for path, verb, op in operations),
        "<h2>Schemas</h2>",
        *(_schema(name, schema) for name, schema in schemas.items()),
        "</body></html>",
    ])
