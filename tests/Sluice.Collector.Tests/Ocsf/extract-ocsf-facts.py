#!/usr/bin/env python3
"""Extracts, from a checkout of github.com/ocsf/ocsf-schema, the facts the OCSF tests check against:
for each class Sluice writes and each object it nests, every attribute with its JSON type, which are
required, the enum ids, and the objects' at_least_one constraints. Facts only: no descriptions.

Usage: extract-ocsf-facts.py SCHEMA_REPO TAG > ocsf-required.json
Inheritance as the schema defines it: a class extends its category's class, which extends base_event;
an object extends its parent objects; a child's settings override, enums add up. Attributes a profile
adds ($include) are left out unless the class itself declares them, as system.json does for actor and
device; the host profile's are listed apart (Sluice declares that profile in metadata.profiles), and so are the
container profile's, with the objects that include it (Sluice declares it when it writes process.container).
"""
import json, subprocess, sys

repo, tag = sys.argv[1], sys.argv[2]


def show(path):
    return json.loads(subprocess.check_output(["git", "-C", repo, "show", f"{tag}:{path}"]))


files = subprocess.check_output(["git", "-C", repo, "ls-tree", "-r", "--name-only", tag]).decode().split()
commit = subprocess.check_output(["git", "-C", repo, "rev-parse", f"{tag}^{{commit}}"]).decode().strip()
events, objects = {}, {}
for p in files:
    if p.endswith(".json") and p.startswith("events/"):
        d = show(p); events[d["name"]] = (p, d)
    if p.endswith(".json") and p.startswith("objects/"):
        d = show(p); objects[d["name"]] = (p, d)
dictionary = show("dictionary.json")
dic = dictionary["attributes"]
types = dictionary["types"]["attributes"]
categories = show("categories.json")["attributes"]


def json_type(attr):
    t = dic.get(attr, {}).get("type")
    while t in types and types[t].get("type"):
        t = types[t]["type"]
    kind = {"string_t": "string", "integer_t": "integer", "long_t": "integer", "float_t": "number",
            "boolean_t": "boolean", "json_t": "any", "object": "object"}.get(t)
    if kind is None:
        kind = "object:" + t  # an object of the schema
    return ("array:" + kind) if dic.get(attr, {}).get("is_array") else kind


def resolve(table, name):
    path, d = table[name]
    if d.get("extends") in table:
        attrs, sources, constraints = resolve(table, d["extends"])
        attrs = {k: dict(v) for k, v in attrs.items()}
    else:
        attrs, sources, constraints = {}, [], None
    for k, v in d.get("attributes", {}).items():
        if k == "$include":
            continue
        cur = attrs.setdefault(k, {})
        enum = dict(cur.get("enum") or dic.get(k, {}).get("enum") or {})
        enum.update(v.get("enum") or {})
        if v.get("requirement"):
            cur["requirement"] = v["requirement"]
        if enum:
            cur["enum"] = enum
    if d.get("constraints"):
        constraints = d["constraints"]
    return attrs, sources + [f"{path}"], constraints


def facts(table, name):
    attrs, sources, constraints = resolve(table, name)
    out = {
        "sources": sources,
        "required": sorted(k for k, v in attrs.items() if v.get("requirement") == "required"),
        "attributes": {k: json_type(k) for k in sorted(attrs)},
        "enums": {k: sorted(int(i) for i in v["enum"]) for k, v in sorted(attrs.items()) if v.get("enum") and k.endswith("_id")},
    }
    if constraints:
        out["at_least_one"] = constraints.get("at_least_one")
    return out


host = show("profiles/host.json")["attributes"]
container = show("profiles/container.json")["attributes"]
# the objects that take the container profile's attributes ($include of profiles/container.json)
container_objects = sorted(n for n, (_, d) in objects.items()
                           if "profiles/container.json" in (lambda i: i if isinstance(i, list) else [i])(d.get("attributes", {}).get("$include", [])))
result = {
    "schema": "OCSF",
    "version": tag,
    "source": f"https://github.com/ocsf/ocsf-schema at tag {tag}, commit {commit}",
    "derived_by": "tests/Sluice.Collector.Tests/Ocsf/extract-ocsf-facts.py",
    "host_profile": {k: json_type(k) for k in sorted(host)},
    "container_profile": {"objects": container_objects, "attributes": {k: json_type(k) for k in sorted(container)}},
    "classes": {},
    "objects": {},
}
for name in ["base_event", "process_activity", "file_activity", "authentication", "account_change", "network_activity"]:
    f = facts(events, name)
    _, d = events[name]
    # the nearest declared category: the class's own, else its parent's (base_event says "other")
    cat = next(events[s.split("/")[-1][:-5]][1].get("category") for s in reversed(f["sources"])
               if events[s.split("/")[-1][:-5]][1].get("category"))
    cat_uid = categories[cat]["uid"] if cat in categories else 0
    class_uid = cat_uid * 1000 + d.get("uid", 0) if d.get("uid") is not None else 0
    f["name"] = name
    f["category_uid"] = cat_uid
    f["enums"]["class_uid"] = [class_uid]
    f["enums"]["category_uid"] = [cat_uid]
    result["classes"][str(class_uid)] = f
for name in ["metadata", "product", "device", "actor", "process", "file", "user", "session", "network_endpoint", "network_connection_info", "container"]:
    result["objects"][name] = facts(objects, name)
json.dump(result, sys.stdout, indent=1, sort_keys=False)
print()
