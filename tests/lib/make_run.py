#!/usr/bin/env python3
"""make_run.py: runs a Make scenario blueprint (share/cx/examples/make) on one
webhook delivery, as far as the tests need Make's semantics.

    make_run.py BLUEPRINT DELIVERY

BLUEPRINT has its placeholders filled in already (as the README says to do
before importing it); DELIVERY is the JSON body the scenario's custom webhook
receives. Modules run in flow order: gateway:CustomWebHook (its output is the
delivery), json:TransformToJSON ({"json": the value as JSON}) and
http:ActionSendData, for which one JSON line {"id", "method", "url",
"headers": {name: value}, "body"} is printed: the request Make would send.
A module's filter (conditions OR-ed, each a list AND-ed; operators
text:equal and exist) ends the run when it fails.

Mapped values are IML: {{N.path.to.field}} (module N's output) and
{{ifempty(N.path; "text")}}. A value that is one expression keeps its type;
in text, a missing value is empty. Exit 65 on anything else.
"""
import json
import re
import sys

EXPR = re.compile(r"\{\{(.*?)\}\}")
IFEMPTY = re.compile(r'^ifempty\(([^;]+);\s*"([^"]*)"\)$')
MISSING = object()


def fail(msg):
    print(f"make_run.py: {msg}", file=sys.stderr)
    sys.exit(65)


def lookup(outputs, path):
    parts = path.strip().split(".")
    if not parts[0].isdigit() or int(parts[0]) not in outputs:
        fail(f"no module output for {path!r}")
    value = outputs[int(parts[0])]
    for part in parts[1:]:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def evaluate(outputs, expr):
    m = IFEMPTY.match(expr.strip())
    if m:
        value = lookup(outputs, m.group(1))
        return m.group(2) if value in (MISSING, None, "") else value
    return lookup(outputs, expr)


def text(value):
    if value in (MISSING, None):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        fail("an object or array mapped into text")
    return str(value)


def render(outputs, template):
    """A mapped value: one expression keeps its type, else interpolated text."""
    if isinstance(template, list):
        return [render(outputs, t) for t in template]
    if isinstance(template, dict):
        return {k: render(outputs, v) for k, v in template.items()}
    if not isinstance(template, str):
        return template
    whole = EXPR.fullmatch(template)
    if whole:
        return evaluate(outputs, whole.group(1))
    return EXPR.sub(lambda m: text(evaluate(outputs, m.group(1))), template)


def passes(outputs, module):
    flt = module.get("filter")
    if not flt:
        return True
    for group in flt["conditions"]:
        ok = True
        for cond in group:
            a = render(outputs, cond["a"])
            if cond["o"] == "exist":
                ok = ok and a not in (MISSING, None, "")
            elif cond["o"] == "text:equal":
                ok = ok and text(a) == text(render(outputs, cond["b"]))
            else:
                fail(f"filter operator {cond['o']!r}")
        if ok:
            return True
    return False


def run(module, outputs, delivery):
    kind = module["module"]
    mapper = module.get("mapper", {})
    if kind == "gateway:CustomWebHook":
        return delivery
    if kind == "json:TransformToJSON":
        value = render(outputs, mapper["object"])
        return {"json": json.dumps(None if value is MISSING else value, ensure_ascii=False)}
    if kind == "http:ActionSendData":
        request = {
            "id": module["id"],
            "method": mapper["method"].upper(),
            "url": render(outputs, mapper["url"]),
            "headers": {h["name"]: text(render(outputs, h["value"])) for h in mapper["headers"]},
            "body": text(render(outputs, mapper["data"])),
        }
        print(json.dumps(request, ensure_ascii=False))
        return {}
    fail(f"module {kind!r}")


def main():
    if len(sys.argv) != 3:
        fail("usage: make_run.py BLUEPRINT DELIVERY")
    with open(sys.argv[1], encoding="utf-8") as f:
        blueprint = json.load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        delivery = json.load(f)
    outputs = {}
    for module in blueprint["flow"]:
        if not passes(outputs, module):
            return
        outputs[module["id"]] = run(module, outputs, delivery)


if __name__ == "__main__":
    main()
