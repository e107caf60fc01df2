"""The gRPC reference for bench/serve_v2.py: a bare ``inference.GRPCInferenceService/ModelInfer`` calling onnxruntime
with no validation, no metrics and no error handling (what a user would write from the proto in ten minutes), on
grpcio's asyncio server, which ``logreg serve --grpc-port`` runs on (its thread-pool server answered fewer calls here:
1,696 against 2,878 a second, 16 connections, one row). One FP32 input in raw_input_contents; the probabilities
answered in raw_output_contents.

    python bench/bare_grpc_server.py MODEL.onnx PORT
"""

from __future__ import annotations

import asyncio
import sys

import grpc
import numpy as np
import onnxruntime as ort
from logreg_onnx.runtime.grpc import inference_pb2 as pb
from logreg_onnx.runtime.grpc import inference_pb2_grpc


class Bare(inference_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, path: str) -> None:
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def answer(self, request):
        tensor = request.inputs[0]
        features = np.frombuffer(request.raw_input_contents[0], np.float32).reshape(list(tensor.shape))
        probabilities = self.session.run(["probabilities"], {"features": features})[0]
        response = pb.ModelInferResponse(model_name=request.model_name)
        response.outputs.add(name="probabilities", datatype="FP32", shape=probabilities.shape)
        response.raw_output_contents.append(probabilities.tobytes())
        return response


class BareAio(Bare):
    async def ModelInfer(self, request, context):
        return self.answer(request)


async def serve_aio(path: str, port: int) -> None:
    server = grpc.aio.server()
    inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(BareAio(path), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve_aio(sys.argv[1], int(sys.argv[2])))
