#!/usr/bin/env python3
"""Regenerate every fixture, torch reference and pyvene parity case under models/.

Usage (from the repository root):  python3 models/generate.py [--cases-only] [--case NAME ...]
                                   python3 models/generate.py --families [--cases-only] [--only NAME ...] [--case NAME ...]
(--families: the per-family fixtures of families.py and the cases of cases_families.py only;
 --gru: the unit-t cases of cases_gru.py on the GRU fixtures only.)

Pinned versions (the references were recorded with exactly these; other versions may give other numbers):
    torch 2.15.0 (CPU), transformers 4.51.3, pyvene 0.1.8, onnx 1.23.2, onnxruntime 1.31.1, onnxscript 0.7.2,
    safetensors 0.8.0, numpy 2.x.  pyvene 0.1.8 also needs matplotlib, seaborn and networkx at import time.
Everything is built offline from configs (random init + seeded noise); nothing is downloaded.

Deterministic: fixed seeds and one CPU thread.  The reference .safetensors files, schemas and the legacy
exports are byte-identical between runs; see README.md for the dynamo exports.
"""
import argparse
import logging
import os
import sys
import warnings

sys.dont_write_bytecode = True  # keep models/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import kv_fixtures as K  # noqa: E402
import pvc_fixtures as F  # noqa: E402

PINNED = {"torch": "2.15.0", "transformers": "4.51.3", "pyvene": "0.1.8", "onnx": "1.23.2",
          "onnxruntime": "1.31.1"}


def check_versions():
    import importlib.metadata as md
    for pkg, want in PINNED.items():
        got = md.version(pkg)
        if not got.startswith(want):
            print(f"WARNING: {pkg} {got} installed, references were recorded with {want}")


def seed_everything(seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)  # thread count can change float summation order
    torch.use_deterministic_algorithms(True)


def build_models():
    models = {"gpt2": F.build_gpt2(), "llama": F.build_llama(), "mlp": F.build_mlp()}
    with torch.no_grad():  # un-intervened outputs, used to report how much each case changes
        models["_plain"] = {
            "gpt2": F.to_np(models["gpt2"](input_ids=F.lm_input_ids()).logits),
            "llama": F.to_np(models["llama"](input_ids=F.lm_input_ids()).logits),
            "mlp": F.to_np(models["mlp"](x=F.mlp_input())),
        }
    return models


def make_fixtures(models):
    report = {}
    report.update(F.make_lm_fixtures(HERE, "gpt2", models["gpt2"], external_dir="gpt2_external"))
    report.update(F.make_lm_fixtures(HERE, "llama", models["llama"]))
    report.update(F.make_mlp_fixtures(HERE, models["mlp"]))
    report.update(K.make_kv_fixtures(HERE, models, F.lm_input_ids()[:1, :5]))
    import make_tokenizer
    report.update(make_tokenizer.make_tokenizers(HERE))
    print("\n== fixtures: max |onnxruntime - torch| ==")
    for k, v in report.items():
        print(f"  {k:16s} {v}")
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases-only", action="store_true", help="skip the ONNX exports and torch refs")
    ap.add_argument("--case", action="append", help="only (re)generate this case (repeatable)")
    ap.add_argument("--families", action="store_true", help="the family fixtures and cases (families.py)")
    ap.add_argument("--gru", action="store_true", help="the GRU unit-t cases (cases_gru.py)")
    ap.add_argument("--only", action="append", help="with --families: only this family's fixtures (repeatable)")
    ap.add_argument("--trained-only", action="store_true", help="only the trained-intervention cases")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    check_versions()
    seed_everything()
    if args.families:
        return families(args)
    if args.gru:
        import cases_gru as CG  # imports pyvene
        report = CG.make_cases(only=args.case)
        print("\n== GRU unit-t cases ==")
        for k, v in report.items():
            print(f"  {k:52s} {v}")
        return
    models = build_models()
    if not args.cases_only:
        make_fixtures(models)
    import pvc_cases as C  # imports pyvene (slow, chatty)
    seed_everything()
    report = {} if args.trained_only else C.make_cases(HERE, models, only=args.case)
    import cases_trained as T  # trained interventions, fed to pvc from pyvene's save directories
    seed_everything()
    report.update(T.make_cases(HERE, models, only=args.case))
    if not args.trained_only:
        import cases_generate as CG
        seed_everything()
        report.update(CG.make_cases(HERE, models, only=args.case))
    print("\n== pyvene cases ==")
    for k, v in report.items():
        print(f"  {k:36s} {v}")
    if any("ERROR" in v for v in report.values()):
        print("some cases failed in pyvene (see above); document them in models/README.md")


def families(args):
    import families as FM
    models = FM.build_models()
    models["_plain_families"] = FM.plain_outputs(models)
    if not args.cases_only:
        report = FM.make_fixtures(HERE, models, only=args.only)
        print("\n== family fixtures: max |onnxruntime - torch| (bytes) ==")
        for k, v in report.items():
            print(f"  {k:16s} {v}")
    import cases_families as CF  # imports pyvene
    seed_everything()
    report = CF.make_cases(models, only=args.case)
    print("\n== family cases ==")
    for k, v in report.items():
        print(f"  {k:44s} {v}")


if __name__ == "__main__":
    main()
