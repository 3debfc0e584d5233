"""Triton Python-backend model serving an exported pvc model through onnxruntime.

Stands in for Triton's onnxruntime backend, which this test cannot install: it reads the model's
config (the one `pvc export-triton` wrote), runs `<version>/model.onnx` with onnxruntime on CPU,
and answers each request of a dynamically merged batch with its own rows. Every executed batch
size is logged to stderr, next to the server's own statistics.
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.inputs = [t["name"] for t in config["input"]]
        self.outputs = [t["name"] for t in config["output"]]

    def execute(self, requests):
        sizes = [pb_utils.get_input_tensor_by_name(r, self.inputs[0]).as_numpy().shape[0] for r in requests]
        feeds = {
            name: np.concatenate([pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests])
            for name in self.inputs
        }
        print(f"pvc-triton-model: executing {len(requests)} requests as one batch of {sum(sizes)}", file=sys.stderr)
        results = self.session.run(self.outputs, feeds)
        responses, start = [], 0
        for k in sizes:
            tensors = [pb_utils.Tensor(n, np.ascontiguousarray(v[start : start + k])) for n, v in zip(self.outputs, results)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += k
        return responses
