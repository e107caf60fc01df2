"""The reference for bench/serve.py: a bare starlette + uvicorn V2 endpoint calling onnxruntime with no validation, no
metrics and no error handling (what a user would write in ten minutes). Single-row and batch JSON only.

    python bench/bare_server.py MODEL.onnx PORT [WORKERS]
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnxruntime as ort
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create_app() -> Starlette:
    session = ort.InferenceSession(os.environ["BARE_MODEL"], providers=["CPUExecutionProvider"])

    async def infer(request: Request) -> Response:
        document = json.loads(await request.body())
        tensor = document["inputs"][0]
        features = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        probabilities = session.run(["probabilities"], {"features": features})[0]
        answer = {
            "model_name": request.path_params["name"],
            "outputs": [
                {
                    "name": "probabilities",
                    "datatype": "FP32",
                    "shape": list(probabilities.shape),
                    "data": probabilities.ravel().tolist(),
                }
            ],
        }
        return Response(json.dumps(answer), media_type="application/json")

    return Starlette(routes=[Route("/v2/models/{name}/infer", infer, methods=["POST"])])


if __name__ == "__main__":
    import uvicorn

    os.environ["BARE_MODEL"] = sys.argv[1]
    uvicorn.run(
        "bare_server:create_app",
        factory=True,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        port=int(sys.argv[2]),
        workers=int(sys.argv[3]) if len(sys.argv) > 3 else 1,
        log_level="warning",
        access_log=False,
    )
