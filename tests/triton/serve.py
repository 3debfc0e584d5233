"""Serves a `pvc export-triton` repository with the tritonserver that nvidia-pytriton bundles, and
checks it: python serve.py REPO NAME REQUESTS_DIR N.

- Builds a serving copy of REPO/NAME: the exported config.pbtxt with its `backend: "onnxruntime"`
  line (the only change) set to the Python backend, the exported 1/ files, and model.py, which runs
  1/model.onnx in onnxruntime (Triton's onnxruntime backend is not installable here).
- Starts tritonserver on 127.0.0.1 only (HTTP and gRPC on free ports, metrics off), waits for it
  to be ready, and stops it on every path: on exit, on a signal, and, through PR_SET_PDEATHSIG,
  when this script dies.
- Checks that the loaded config is the exported one, sends N requests (req_<k>.safetensors) at
  once, alternating HTTP and gRPC, and compares each answer with want_<k>.safetensors (what
  `pvc run` gave on the same inputs).
- Reads the server's statistics and requires that dynamic batching merged requests (fewer
  executions than inferences).
Everything is bounded by a deadline (PVC_TRITON_DEADLINE seconds, default 240).
"""

import ctypes
import json
import os
import pathlib
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32, "BOOL": np.bool_}
DEADLINE = time.monotonic() + float(os.environ.get("PVC_TRITON_DEADLINE", "240"))


def left():
    return DEADLINE - time.monotonic()


def read_safetensors(path):
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def serving_repo(repo, name, work):
    exported = pathlib.Path(repo) / name
    text = (exported / "config.pbtxt").read_text()
    line = 'backend: "onnxruntime"\n'
    assert text.count(line) == 1, f"{exported}/config.pbtxt: expected one {line!r}"
    dst = work / "repo" / name
    shutil.copytree(exported / "1", dst / "1")
    (dst / "config.pbtxt").write_text(text.replace(line, 'backend: "python"\n'))
    shutil.copy(pathlib.Path(__file__).with_name("model.py"), dst / "1" / "model.py")
    return text, work / "repo"


def server_dist(work):
    import pytriton

    root = pathlib.Path(pytriton.__file__).parent
    dist = work / "tritonserver"
    shutil.copytree(root / "tritonserver", dist, ignore=shutil.ignore_patterns("python_backend_stubs"))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stub = root / "tritonserver" / "python_backend_stubs" / version / "triton_python_backend_stub"
    shutil.copy(stub, dist / "backends" / "python" / "triton_python_backend_stub")
    return dist, root.parent / "nvidia_pytriton.libs"


def check_config(got, exported_text, name):
    assert got["name"] == name, got["name"]
    assert got["backend"] == "python", got["backend"]
    assert "dynamic_batching" in got, "the loaded config has no dynamic_batching"
    for field in ("input", "output"):
        for t in got[field]:
            quoted = f'name: "{t["name"]}"\n    data_type: {t["data_type"]}\n    dims: [ {", ".join(map(str, t["dims"]))} ]'
            assert quoted in exported_text, f"loaded {field} {t} is not declared so in config.pbtxt"
    n_in = exported_text.split("output [")[0].count("  {\n    name:")
    assert len(got["input"]) == n_in, (len(got["input"]), n_in)
    print(f"serve.py: loaded config: max_batch_size {got['max_batch_size']}, {len(got['input'])} inputs, "
          f"{len(got['output'])} outputs, dynamic batching {got['dynamic_batching']}")


def infer_all(http_url, grpc_url, name, requests):
    done = queue.Queue()
    http = httpclient.InferenceServerClient(http_url, concurrency=len(requests))
    grpc = grpcclient.InferenceServerClient(grpc_url)
    pending = []
    for k, feeds in enumerate(requests):
        lib = httpclient if k % 2 == 0 else grpcclient
        inputs = []
        for n, v in feeds.items():
            t = lib.InferInput(n, list(v.shape), {np.int64: "INT64", np.float32: "FP32"}[v.dtype.type])
            t.set_data_from_numpy(v)
            inputs.append(t)
        if k % 2 == 0:
            pending.append((k, "http", http.async_infer(name, inputs)))
        else:
            grpc.async_infer(name, inputs, callback=lambda result, error, k=k: done.put((k, "grpc", result, error)))
    answers = {}
    for k, proto, h in pending:
        answers[k] = (proto, h.get_result(timeout=max(1, left())))
    for _ in range(len(requests) - len(pending)):
        k, proto, r, e = done.get(timeout=max(1, left()))
        if e is not None:
            raise RuntimeError(f"gRPC request {k}: {e}")
        answers[k] = (proto, r)
    http.close()
    grpc.close()
    return answers


def main():
    repo, name, reqdir, n = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), int(sys.argv[4])
    work = pathlib.Path(tempfile.mkdtemp(prefix="pvc-triton-"))
    server = probe = None
    try:
        exported_text, serve_repo = serving_repo(repo, name, work)
        dist, libs = server_dist(work)
        http_port, grpc_port = free_port(), free_port()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = f"{libs}:{env['LD_LIBRARY_PATH']}" if env.get("LD_LIBRARY_PATH") else str(libs)
        env["PATH"] = f"{pathlib.Path(sys.executable).parent}:{env['PATH']}"
        cmd = [
            str(dist / "bin" / "tritonserver"),
            f"--model-repository={serve_repo}",
            f"--backend-directory={dist / 'backends'}",
            f"--cache-directory={dist / 'caches'}",
            "--http-address=127.0.0.1", f"--http-port={http_port}",
            "--grpc-address=127.0.0.1", f"--grpc-port={grpc_port}",
            "--allow-metrics=false", "--allow-gpu-metrics=false", "--allow-cpu-metrics=false",
            "--allow-sagemaker=false", "--allow-vertex-ai=false",
            "--exit-timeout-secs=10", "--strict-readiness=true",
        ]
        log = open(work / "server.log", "w")
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        http_url, grpc_url = f"127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}"
        probe = httpclient.InferenceServerClient(http_url)
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"tritonserver exited with {server.returncode}:\n{(work / 'server.log').read_text()}")
            try:
                if probe.is_server_ready() and probe.is_model_ready(name):
                    break
            except Exception:
                pass
            if left() < 0:
                raise TimeoutError(f"tritonserver not ready in time:\n{(work / 'server.log').read_text()}")
            time.sleep(0.3)
        print(f"serve.py: tritonserver ready on {http_url} (HTTP) and {grpc_url} (gRPC)")
        check_config(probe.get_model_config(name), exported_text, name)
        requests = [read_safetensors(reqdir / f"req_{k}.safetensors") for k in range(n)]
        answers = infer_all(http_url, grpc_url, name, requests)
        for k in range(n):
            want = read_safetensors(reqdir / f"want_{k}.safetensors")
            proto, r = answers[k]
            for out, w in want.items():
                got = r.as_numpy(out)
                assert got is not None, f"request {k} ({proto}): no output {out}"
                assert got.shape == w.shape, f"request {k} ({proto}) {out}: shape {got.shape}, pvc run gave {w.shape}"
                diff = float(np.max(np.abs(got.astype(np.float64) - w.astype(np.float64)))) if w.size else 0.0
                assert diff <= 1e-4, f"request {k} ({proto}) {out}: max abs diff {diff} to pvc run"
        stats = probe.get_inference_statistics(name)["model_stats"][0]
        inferences, executions = int(stats["inference_count"]), int(stats["execution_count"])
        sizes = {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats.get("batch_stats", [])}
        print(f"serve.py: {n} requests ({(n + 1) // 2} HTTP, {n // 2} gRPC) equal pvc run; server statistics: "
              f"{inferences} inferences in {executions} executions, batch sizes {dict(sorted(sizes.items()))}")
        assert inferences == n, stats
        assert executions < inferences and max(sizes) > 1, f"dynamic batching merged nothing: {stats}"
        print("serve.py: ok")
    finally:
        if probe is not None:
            probe.close()
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if server is not None and os.environ.get("PVC_TRITON_LOG"):
            print((work / "server.log").read_text())
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
