# What the package index says about one release, before anything is installed:
#   python3 - NAME VERSION [INDEX_URL]  (this file on stdin)
# prints {"index", "upload_time", "prior_to", "requires_python"} as JSON (null when the
# index does not say). The index is the one given, else pip's own configuration, else pip's
# built-in default; nothing here names a host. Run by mcpwarden (src/sandbox/install.rs)
# with the user's python3; it only reads the index's JSON project page (PEP 691 / PEP 700).
import json
import os
import re
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta


def configured_index():
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    for key in ("install.index-url", "global.index-url"):
        found = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                               capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    from pip._internal.models.index import PyPI
    return PyPI.simple_url


def main():
    name, version = sys.argv[1], sys.argv[2]
    index = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else configured_index()
    project = re.sub(r"[-_.]+", "-", name).lower()
    request = urllib.request.Request(
        index.rstrip("/") + "/" + project + "/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        page = json.load(response)
    stem = re.sub(r"[-_.]+", "_", name).lower()
    times, requires = [], None
    for file in page.get("files", []):
        filename = file.get("filename", "").lower()
        if not (filename.startswith(f"{stem}-{version.lower()}-")
                or filename.startswith(f"{project}-{version.lower()}.")
                or filename.startswith(f"{stem}-{version.lower()}.")):
            continue
        if file.get("upload-time"):
            times.append(file["upload-time"])
        if file.get("requires-python") and not requires:
            requires = file["requires-python"]
    upload = max(times) if times else None
    # Dependencies as they stood when the release was published (plus a day, for packages
    # released together), not as they stand today: a server written for one major version
    # of its SDK must not be handed the next.
    prior_to = None
    if upload:
        moment = datetime.fromisoformat(upload.replace("Z", "+00:00")) + timedelta(days=1)
        prior_to = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps({"index": index, "upload_time": upload, "prior_to": prior_to,
                      "requires_python": requires}))


main()
