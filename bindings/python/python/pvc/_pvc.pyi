"""The native half of pvc (pyo3); use ``pvc.rewrite`` and ``pvc.inspect`` instead."""

from typing import Dict, List, Optional, Tuple

__version__: str

def rewrite(
    model: str,
    out: str,
    *,
    schema_path: Optional[str] = None,
    schema_text: Optional[str] = None,
    schema_dir: Optional[str] = None,
    state_dicts: Optional[Dict[str, bytes]] = None,
    original: bool = False,
    unit_locations: Optional[str] = None,
    subspaces: Optional[str] = None,
    check: bool = False,
    external_data: str = "copy",
    ort_lib: Optional[str] = None,
    verify: bool = False,
    dry_run: bool = False,
) -> Tuple[str, List[str]]: ...
def inspect(model: str) -> str: ...
