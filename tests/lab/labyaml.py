"""The small part of YAML that the lab's config template uses, without PyYAML.

The lab is Python standard library only (run with /usr/bin/python3 anywhere), but tests
change outpostd's config by merging dicts into tests/lab/outpost-lab.yaml. So: a loader for
block mappings, block sequences of scalars or mappings, flow lists of scalars, comments and
quoted scalars (anything else raises ValueError), a deep merge, and a block-style emitter
that keeps one key per line so outpostd's FILE:LINE:COL errors stay readable.
Scalars load as strings: outpostd does the typing.
"""
import json
import re

_SAFE_SCALAR = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@+-]*$")


def _strip_comment(line):
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text, where):
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(part, where) for part in inner.split(",")] if inner else []
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return json.loads(text)
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text[:1] in "{&*!|>%@`":
        raise ValueError(f"{where}: YAML form not supported by labyaml: {text!r}")
    return text


def loads(text, name="<yaml>"):
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if line.strip():
            if "\t" in line[: len(line) - len(line.lstrip())]:
                raise ValueError(f"{name}:{number}: tab in indentation")
            lines.append((len(line) - len(line.lstrip(" ")), line.strip(), f"{name}:{number}"))
    value, rest = _block(lines, 0, lines[0][0] if lines else 0)
    if rest != len(lines):
        raise ValueError(f"{lines[rest][2]}: unexpected indentation")
    return value if value is not None else {}


def _block(lines, i, indent):
    """Parses the block at `indent` starting at line i; returns (value, next line index)."""
    if i >= len(lines) or lines[i][0] != indent:
        return None, i
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        items = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
            body, where = lines[i][1][1:].strip(), lines[i][2]
            if not body:
                value, i = _block(lines, i + 1, lines[i + 1][0] if i + 1 < len(lines) else 0)
            elif re.match(r"^[^\"'\[][^:]*:(\s|$)", body):  # "- key: value": a mapping item
                item_indent = indent + 2
                sub = [(item_indent, body, where)] + [l for l in lines[i + 1:]]
                value, used = _block(sub, 0, item_indent)
                i += used
            else:
                value, i = _scalar(body, where), i + 1
            items.append(value)
        return items, i
    mapping = {}
    while i < len(lines) and lines[i][0] == indent:
        _, body, where = lines[i]
        key, sep, rest = body.partition(":")
        if not sep or (rest and not rest.startswith(" ")):
            raise ValueError(f"{where}: expected 'key: value'")
        key = _scalar(key, where)
        if key in mapping:
            raise ValueError(f"{where}: duplicate key {key!r}")
        if rest.strip():
            mapping[key], i = _scalar(rest, where), i + 1
        elif i + 1 < len(lines) and lines[i + 1][0] > indent:
            mapping[key], i = _block(lines, i + 1, lines[i + 1][0])
        elif i + 1 < len(lines) and lines[i + 1][0] == indent and lines[i + 1][1].startswith("- "):
            mapping[key], i = _block(lines, i + 1, indent)  # a sequence may sit at its key's indent
        else:
            mapping[key], i = None, i + 1
    return mapping, i


def merge(base, overrides):
    """Deep merge: dicts merge key by key, anything else replaces; None removes the key."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _emit_scalar(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return text if _SAFE_SCALAR.match(text) else json.dumps(text)


def dumps(value, indent=0):
    pad = " " * indent
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{_emit_scalar(key)}:")
                out.append(dumps(item, indent + 2))
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, list) else None
                out.append(f"{pad}{_emit_scalar(key)}: {empty or _emit_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                first, *rest = dumps(item, indent + 2).splitlines()
                out.append(f"{pad}- {first.lstrip()}")
                out.extend(rest)
            elif isinstance(item, list):
                out.append(f"{pad}- [{', '.join(_emit_scalar(x) for x in item)}]")
            else:
                out.append(f"{pad}- {_emit_scalar(item)}")
    else:
        out.append(pad + _emit_scalar(value))
    return "\n".join(out)
