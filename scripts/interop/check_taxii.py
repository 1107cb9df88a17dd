"""Pulls every collection of a running riskmesh node's TAXII 2.1 server
with the OASIS taxii2-client, with paging and added_after, and checks that
bad requests get TAXII error objects and change nothing.

Usage: check_taxii.py BASE_URL TOKEN   (BASE_URL like http://127.0.0.1:4620)
Exits 1 on the first failed check.
"""

import sys

import requests
from taxii2client.v21 import Server, as_pages

TAXII = "application/taxii+json;version=2.1"
passed = 0


def check(condition, what):
    global passed
    if not condition:
        print(f"FAIL {what}")
        sys.exit(1)
    passed += 1
    print(f"ok   {what}")


def main():
    base, token = sys.argv[1], sys.argv[2]
    server = Server(f"{base}/taxii2/", user="analyst", password=token)
    root = server.default
    check(root is not None and TAXII in root.versions, "discovery names the API root, which speaks TAXII 2.1")
    collections = {c.alias: c for c in root.collections}
    check(
        sorted(collections) == ["consortium", "hazardous", "public", "restricted"],
        f"one collection per view: {sorted(collections)}",
    )
    counts = {}
    for alias, c in sorted(collections.items()):
        check(c.can_read and not c.can_write, f"{alias}: read-only")
        whole = c.get_objects(limit=1000).get("objects", [])
        paged = [o for env in as_pages(c.get_objects, per_request=2) for o in env.get("objects", [])]
        key = lambda objects: [(o["id"], o.get("modified", o.get("created"))) for o in objects]
        check(key(paged) == key(whole), f"{alias}: {len(whole)} objects, the same in pages of 2")
        reports = [o for o in whole if o["type"] == "report"]
        counts[alias] = len(reports)
        manifest = c.get_manifest(limit=1000).get("objects", [])
        check([m["id"] for m in manifest] == [o["id"] for o in whole], f"{alias}: the manifest lists them")
        dates = [m["date_added"] for m in manifest]
        check(dates == sorted(dates), f"{alias}: in date_added order")
        if len(set(dates)) > 1:
            middle = sorted(set(dates))[len(set(dates)) // 2 - 1]
            later = c.get_objects(added_after=middle, limit=1000).get("objects", [])
            expected = [o["id"] for o, d in zip(whole, dates) if d > middle]
            check(
                [o["id"] for o in later] == expected and 0 < len(later) < len(whole),
                f"{alias}: added_after {middle} gives the {len(expected)} objects added later",
            )
        for report in reports:
            versions = c.get_objects(limit=1000, version="all", id=report["id"])
            all_versions = versions.get("objects", [])
            listed = c.object_versions(report["id"]).get("versions", [])
            check(
                listed == [v["modified"] for v in all_versions] and listed[-1] == report["modified"],
                f"{alias}: {report['id']} has {len(listed)} version(s), the latest listed by default",
            )
            one = c.get_object(report["id"]).get("objects", [])
            check(len(one) == 1 and one[0] == report, f"{alias}: get_object returns {report['id']}")
    check(counts["public"] >= 2, f"public reports: {counts['public']}")
    check(counts["consortium"] >= 1, f"consortium reports: {counts['consortium']}")
    check(counts["restricted"] == 1, f"restricted reports: {counts['restricted']}")
    check(counts["hazardous"] == 1, f"hazardous summaries: {counts['hazardous']}")
    corrected = [
        o
        for o in collections["consortium"].get_objects(limit=1000, version="all").get("objects", [])
        if o["type"] == "report"
    ]
    ids = [o["id"] for o in corrected]
    check(any(ids.count(i) >= 3 for i in ids), "a corrected and retracted bulletin is one report in 3 versions")
    check(any(o.get("revoked") for o in corrected), "the retraction is a revoked version")

    # Bearer works as well as Basic.
    url = collections["public"].url
    bearer = requests.get(url, headers={"Authorization": f"Bearer {token}", "Accept": TAXII})
    check(bearer.status_code == 200, "Bearer authentication")

    before = collections["consortium"].get_manifest(limit=1000)
    bad = [
        ("GET", "objects/?limit=0", None, 400),
        ("GET", "objects/?limit=-3", None, 400),
        ("GET", "objects/?added_after=yesterday", None, 400),
        ("GET", "objects/?next=not-a-cursor", None, 400),
        ("GET", "objects/?match[version]=newest", None, 400),
        ("GET", "objects/?match[colour]=red", None, 400),
        ("GET", "manifest/?limit=1&limit=2", None, 400),
        ("GET", "objects/", "text/html", 406),
        ("POST", "objects/", None, 403),
        ("GET", "objects/report--00000000-0000-4000-8000-000000000000/", None, 404),
    ]
    auth = ("analyst", token)
    for method, path, accept, status in bad:
        r = requests.request(method, collections["consortium"].url + path, auth=auth,
                             headers={"Accept": accept or TAXII}, json={} if method == "POST" else None)
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/taxii+json") else {}
        check(
            r.status_code == status and body.get("http_status") == str(status) and body.get("title"),
            f"{method} {path} (Accept {accept or 'taxii'}): TAXII error {status}: {body.get('description', r.text)[:90]}",
        )
    for auth, what in [(None, "no credentials"), (("analyst", "wrong"), "a wrong token")]:
        r = requests.get(f"{base}/taxii2/api/collections/", auth=auth, headers={"Accept": TAXII})
        check(r.status_code == 401 and r.json().get("http_status") == "401", f"{what}: TAXII error 401")
    r = requests.get(f"{base}/taxii2/api/collections/no-such-collection/", auth=("a", token))
    check(r.status_code == 404 and r.json().get("http_status") == "404", "unknown collection: TAXII error 404")
    after = collections["consortium"].get_manifest(limit=1000)
    check(before == after, "bad requests changed nothing")
    print(f"taxii checks: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
