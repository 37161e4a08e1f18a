#!/usr/bin/env bash
# llama.cpp's source as the llama-cpp-python 0.3.36 sdist vendors it (the package index is the
# one registry these machines reach), unpacked into WORK_DIR once; prints the llama.cpp folder.
# Usage: scripts/llama-cpp-source.sh WORK_DIR   (PYTHON: python3)
# The sdist's address and hash come from the index's JSON simple API: `pip download
# --no-binary` would first build the sdist's build dependencies (cmake itself) from source.
set -euo pipefail
WORK=${1:?work directory}
PY=${PYTHON:-python3}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
SRC="$WORK/llama_cpp_python-0.3.36/vendor/llama.cpp"
if [ ! -d "$SRC" ]; then
  "$PY" - "$WORK" <<'PYEOF' >&2
import hashlib, json, sys, urllib.request
req = urllib.request.Request("https://pypi.org/simple/llama-cpp-python/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
files = json.load(urllib.request.urlopen(req))["files"]
f = next(f for f in files if f["filename"] == "llama_cpp_python-0.3.36.tar.gz")
data = urllib.request.urlopen(f["url"]).read()
if hashlib.sha256(data).hexdigest() != f["hashes"]["sha256"]:
    sys.exit(f"{f['filename']}: sha256 differs from the index's")
open(f"{sys.argv[1]}/{f['filename']}", "wb").write(data)
PYEOF
  tar xzf "$WORK/llama_cpp_python-0.3.36.tar.gz" -C "$WORK"
fi
echo "$SRC"
