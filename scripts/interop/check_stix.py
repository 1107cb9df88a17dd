"""Checks STIX 2.1 bundles exported by riskmesh nodes with the OASIS
validator (stix2-validator) and riskmesh's own extension schema.

Usage: check_stix.py SCHEMA BUNDLE...

A bundle fails on any validator error, on any validator warning other than
two advisories riskmesh takes on purpose: 103 `uuid-check` (its ids are
deterministic UUIDv5, where the validator advises UUIDv4 for domain
objects) and 302 (an external reference with a URL but no hash of the page:
riskmesh links to MITRE ATLAS pages and analysts' URLs it does not fetch),
on an extension block the schema rejects, on a
restricted report the exporting organization may not read, or on a
hazardous canary (simulation's marker of withheld text) anywhere in it.
Exits 1 if any bundle fails.
"""

import json
import os
import re
import sys

import jsonschema
from stix2validator import ValidationOptions, validate_string

EXTENSION = "extension-definition--610a2cc8-ad7d-4018-b327-0a1170863d5d"
ALLOWED_WARNINGS = {"103": "uuid-check", "302": "url-without-hash"}
HAZARDOUS_CANARY = "RMCANARY-H"


def check(path, schema):
    problems = []
    advisories = {}
    text = open(path, encoding="utf-8").read()
    org = os.path.basename(path).split(".")[0]
    outcome = validate_string(text, ValidationOptions(version="2.1"))
    results = outcome if isinstance(outcome, list) else [outcome]
    for result in results:
        for error in result.errors:
            problems.append(f"validator error on {result.object_id}: {error}")
        for warning in result.warnings:
            code = re.search(r"\{(\d+)\}", str(warning))
            name = ALLOWED_WARNINGS.get(code.group(1) if code else "")
            if name is None:
                problems.append(f"validator warning on {result.object_id}: {warning}")
            else:
                advisories[name] = advisories.get(name, 0) + 1
    if not all(r.is_valid for r in results) and not problems:
        problems.append("the validator says the bundle is not valid")
    if HAZARDOUS_CANARY in text:
        problems.append("a withheld hazardous field (canary) is in the bundle")
    bundle = json.loads(text)
    objects = bundle["objects"]
    counts = {}
    for obj in objects:
        counts[obj["type"]] = counts.get(obj["type"], 0) + 1
        ext = obj.get("extensions", {}).get(EXTENSION)
        if ext is None:
            continue
        try:
            jsonschema.validate(ext, schema)
        except jsonschema.ValidationError as e:
            problems.append(f"extension of {obj['id']} breaks the schema: {e.message}")
        if ext["tier"] == "restricted" and not obj.get("revoked"):
            readers = set(ext.get("recipients", [])) | {ext["author"]}
            if org not in readers:
                problems.append(f"{obj['id']}: restricted to {sorted(readers)}, exported by {org}")
    if not counts.get("report"):
        problems.append("no report in the bundle")
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
    noted = ", ".join(f"{n} {name}" for name, n in sorted(advisories.items())) or "none"
    return problems, f"{len(objects)} objects ({summary}); 0 errors; advisories: {noted}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    schema = json.load(open(sys.argv[1], encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    failed = 0
    for path in sys.argv[2:]:
        problems, summary = check(path, schema)
        status = "ok  " if not problems else "FAIL"
        print(f"{status} {os.path.basename(path)}: {summary}")
        for p in problems[:20]:
            print(f"     {p}")
        failed += bool(problems)
    print(f"stix bundles: {len(sys.argv) - 2 - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
