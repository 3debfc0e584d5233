"""Validate every example schema and every parity case's schema against rewrites/schema.json.

Usage: python3 models/check_schemas.py   (needs `jsonschema`). Prints "N passed, N failed".
"""

import glob
import json
import os
import sys

import jsonschema

ROOT = os.path.join(os.path.dirname(__file__), "..")
schema = json.load(open(os.path.join(ROOT, "rewrites", "schema.json")))
validator = jsonschema.Draft202012Validator(schema)
files = sorted(glob.glob(os.path.join(ROOT, "rewrites", "examples", "*.json")))
files += sorted(glob.glob(os.path.join(ROOT, "models", "cases", "*", "schema.json")))
files += sorted(glob.glob(os.path.join(ROOT, "models", "cases", "*", "pyvene_save", "config.json")))
files += sorted(glob.glob(os.path.join(ROOT, "models", "gen_cases", "*", "schema.json")))
passed = failed = 0
for f in files:
    errors = list(validator.iter_errors(json.load(open(f))))
    if errors:
        failed += 1
        print(f"FAIL {os.path.relpath(f, ROOT)}: {errors[0].message}")
    else:
        passed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
