"""pvc: compile pyvene interventions into standard ONNX graphs, from Python.

``pvc.rewrite`` turns an ONNX model and a pyvene intervention (a live ``IntervenableModel``, a
save directory, a schema file or a dict in the schema's form) into a patched ONNX file; it is
``pvc rewrite`` of the command line, run in this process with the GIL released.
``pvc.inspect`` returns the module tree that ``pvc inspect --json`` prints. Failures raise a
``pvc.PvcError`` subclass carrying the CLI's message and the schema's JSON path.
"""

import json
import os
from typing import Any, Dict, List, Literal, Mapping, Optional, TypedDict, Union

from . import _pvc, _pyvene
from .errors import CheckError, ModelError, OutputError, PvcError, SchemaError

__all__ = [
    "rewrite",
    "inspect",
    "Applied",
    "RewriteReport",
    "PvcError",
    "SchemaError",
    "ModelError",
    "OutputError",
    "CheckError",
]
__version__: str = _pvc.__version__

PathLike = Union[str, "os.PathLike[str]"]


class Applied(TypedDict):
    """One intervention as placed in the graph."""

    at: str  #: JSON path of its representation
    intervention: str  #: pyvene's class name
    via: str  #: how its site was found
    value: str  #: the tensor it intervenes on


class RewriteReport(TypedDict):
    """What ``pvc.rewrite`` did."""

    interventions: List[Applied]
    output: Optional[str]  #: the file written
    notes: List[str]  #: the lines ``pvc rewrite`` prints on stderr


def _plain(obj: Any) -> Any:
    """JSON for values the schema's dict form may hold: tensors and arrays as lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_plain, allow_nan=False)


def rewrite(
    model: PathLike,
    interventions: Any,
    out: PathLike,
    *,
    original: bool = False,
    unit_locations: Any = None,
    subspaces: Any = None,
    check: bool = False,
    external_data: Literal["copy", "link", "split"] = "copy",
) -> RewriteReport:
    """Compiles ``interventions`` into the ONNX ``model`` and writes the result to ``out``.

    ``interventions`` is a pyvene ``IntervenableModel`` (its config and state dicts are taken in
    memory, as its ``save`` would write them), a pyvene save directory, a schema JSON file, or a
    dict in the schema's form (relative paths in it are relative to the current directory).
    ``unit_locations`` and ``subspaces`` are pyvene's call-time arguments, replacing the
    schema's. ``original`` adds ``original.<name>`` outputs; ``check`` loads the result in tract
    and ONNX Runtime before it replaces anything; ``external_data`` says how data files follow
    the model into another directory. ``out`` is never an input of the run, and on failure
    nothing is written.
    """
    kw: Dict[str, Any] = {}
    if isinstance(interventions, (str, os.PathLike)):
        kw["schema_path"] = os.fspath(interventions)
    elif isinstance(interventions, Mapping):
        kw["schema_text"] = _dumps(dict(interventions))
        kw["schema_dir"] = os.getcwd()
    elif _pyvene.is_intervenable(interventions):
        text, state_dicts = _pyvene.saved(interventions)
        kw.update(schema_text=text, schema_dir=os.getcwd(), state_dicts=state_dicts)
    else:
        raise TypeError(
            "interventions: expected a pyvene IntervenableModel, a save directory, a schema file "
            f"or a dict, got {type(interventions).__name__}"
        )
    if unit_locations is not None:
        kw["unit_locations"] = _dumps(unit_locations)
    if subspaces is not None:
        kw["subspaces"] = _dumps(subspaces)
    report_json, notes = _pvc.rewrite(
        os.fspath(model),
        os.fspath(out),
        original=original,
        check=check,
        external_data=external_data,
        **kw,
    )
    report = json.loads(report_json)
    report["notes"] = notes
    return report


def inspect(model: PathLike) -> Dict[str, Any]:
    """The module tree of the ONNX ``model``: its exporter, family, inputs, outputs and every
    module with the tensors its hooks see (what ``pvc inspect --json`` prints)."""
    return json.loads(_pvc.inspect(os.fspath(model)))
