"""A p1-gateway client generated from proto/ in Python: lists the entities, then prints states.

Generate the stubs and run it (Debian/Ubuntu: apt-get install python3-grpcio protobuf-compiler
protobuf-compiler-grpc; or pip install grpcio grpcio-tools):

    protoc -I proto --python_out=gen --grpc_python_out=gen \
        --plugin=protoc-gen-grpc_python=$(which grpc_python_plugin) proto/p1gateway/v1/gateway.proto
    PYTHONPATH=gen python3 proto/examples/client.py 127.0.0.1:50051 10
"""

import sys

import grpc
from p1gateway.v1 import gateway_pb2, gateway_pb2_grpc


def main() -> int:
    target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with grpc.insecure_channel(target) as channel:
        gateway = gateway_pb2_grpc.GatewayStub(channel)
        info = gateway.GetInfo(gateway_pb2.GetInfoRequest(), timeout=5)
        print(f"gateway {info.name} {info.version}")
        entities = {e.id: e for e in gateway.ListEntities(gateway_pb2.ListEntitiesRequest(), timeout=5).entities}
        for e in entities.values():
            print(f"entity {e.id} unit={e.unit or '-'} device_class={e.device_class or '-'}")
        # Every state of the main meter's energy and power values (first the current ones, then live).
        stream = gateway.StreamStates(gateway_pb2.StreamStatesRequest(), timeout=30)
        for n, state in enumerate(stream, start=1):
            value = state.number if state.WhichOneof("value") == "number" else state.text
            print(f"state {state.entity_id} {value} {state.unit} {state.meter_time_iso}")
            if n >= count:
                stream.cancel()
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
