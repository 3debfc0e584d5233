"""What ``IntervenableModel.save`` would write, built in memory: the ``config.json`` text and
the ``torch.save`` bytes of each intervention's state dict, by key.

This follows pyvene 0.1.8's ``IntervenableModel.save`` step for step, so that pvc reads the same
schema from a live model as from its save directory.
"""

import copy
import io
from typing import Any, Dict, Tuple


def is_intervenable(obj: Any) -> bool:
    """Whether ``obj`` looks like a pyvene ``IntervenableModel`` (checked without importing
    pyvene, which is slow to import)."""
    return all(hasattr(obj, a) for a in ("config", "interventions", "sorted_keys"))


def saved(pv_model: Any) -> Tuple[str, Dict[str, bytes]]:
    """The ``config.json`` text and the state dicts that ``pv_model.save(dir)`` would write."""
    import torch
    from pyvene.models.configuration_intervenable_model import RepresentationConfig
    from pyvene.models.interventions import TrainableIntervention

    config = copy.deepcopy(pv_model.config)
    config.sorted_keys = pv_model.sorted_keys
    config.model_type = str(config.model_type)
    config.intervention_types = []
    config.intervention_dimensions = []
    config.intervention_constant_sources = []
    representations = []
    for rep in config.representations:
        fields = {}
        for k, v in rep._asdict().items():
            if k == "hidden_source_representation":
                continue
            if k == "source_representation":
                if v is not None:
                    fields["hidden_source_representation"] = True
                fields[k] = None
            elif k in ("intervention_type", "intervention"):
                fields[k] = None
            else:
                fields[k] = v
        representations.append(RepresentationConfig(**fields))
    config.representations = representations
    state_dicts: Dict[str, bytes] = {}
    for key, intervention in pv_model.interventions.items():
        config.intervention_types.append(str(type(intervention)))
        if isinstance(intervention, TrainableIntervention) or intervention.source_representation is not None:
            buf = io.BytesIO()
            torch.save(intervention.state_dict(), buf)
            state_dicts[key] = buf.getvalue()
        dim = intervention.interchange_dim
        config.intervention_dimensions.append(None if dim is None else dim.tolist())
        config.intervention_constant_sources.append(intervention.is_source_constant)
    return config.to_json_string(use_diff=True), state_dicts
