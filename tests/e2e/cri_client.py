"""A kubelet's calls to a container runtime, over the CRI (runtime.v1
gRPC on a unix socket), with Debian's python3-grpcio.

No Debian package ships the CRI's api.proto: cri/runtime_v1.proto has the
messages used here, with the upstream names and field numbers, and is
compiled at run time with grpc_tools (python3-grpc-tools) into the run's
tmp dir. Pods are made as the kubelet makes them with the cgroupfs driver:
metadata (name, namespace, uid), cgroup parent
/kubepods/besteffort/pod<uid>, and here the node's network namespace (no
CNI is installed), which the kubelet sets for hostNetwork pods.
"""
import importlib
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_tools import protoc

PROTO = Path(__file__).resolve().parent / "cri" / "runtime_v1.proto"
SERVICE = "/runtime.v1.RuntimeService/"
TIMEOUT_S = 30.0


def compile_proto(out_dir):
    """runtime_v1_pb2, generated into out_dir (once per run)."""
    out = Path(out_dir)
    out.mkdir(exist_ok=True)
    if not (out / "runtime_v1_pb2.py").exists():
        rc = protoc.main(["protoc", "-I%s" % PROTO.parent, "--python_out=%s" % out, str(PROTO)])
        if rc != 0:
            raise RuntimeError("protoc failed on %s (status %d)" % (PROTO, rc))
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return importlib.import_module("runtime_v1_pb2")


@dataclass
class Pod:
    id: str             # the sandbox id
    uid: str
    config: object      # PodSandboxConfig, passed again to CreateContainer


class Cri:
    def __init__(self, socket_path, gen_dir):
        self.pb = compile_proto(gen_dir)
        self.channel = grpc.insecure_channel("unix://%s" % socket_path)

    def call(self, method, request, response, wait_for_ready=False):
        """One unary call; response is the message class of the answer.
        wait_for_ready: wait (up to TIMEOUT_S) for the runtime to answer at
        all, instead of failing at once while it starts."""
        stub = self.channel.unary_unary(SERVICE + method, request_serializer=type(request).SerializeToString,
                                        response_deserializer=response.FromString)
        return stub(request, timeout=TIMEOUT_S, wait_for_ready=wait_for_ready)

    def version(self):
        return self.call("Version", self.pb.VersionRequest(version="v1"), self.pb.VersionResponse,
                         wait_for_ready=True)

    def host_network(self):
        """Network in the node's namespace (hostNetwork: true), PID and IPC
        as the kubelet sets them for an ordinary pod's containers."""
        return self.pb.NamespaceOption(network=self.pb.NODE, pid=self.pb.CONTAINER, ipc=self.pb.POD)

    def run_pod(self, name, namespace, log_dir):
        uid = str(uuid.uuid4())
        pb = self.pb
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace),
            log_directory=str(log_dir),
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent="/kubepods/besteffort/pod%s" % uid,
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=self.host_network())))
        resp = self.call("RunPodSandbox", pb.RunPodSandboxRequest(config=config), pb.RunPodSandboxResponse)
        return Pod(resp.pod_sandbox_id, uid, config)

    def start_container(self, pod, name, image, argv, env=None, mounts=()):
        """CreateContainer then StartContainer; mounts are (host, container)
        paths, read-only. Returns the container id."""
        pb = self.pb
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=image), command=argv,
            envs=[pb.KeyValue(key=k, value=v) for k, v in (env or {}).items()],
            mounts=[pb.Mount(host_path=str(h), container_path=c, readonly=True) for h, c in mounts],
            log_path="%s.log" % name,
            linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                namespace_options=self.host_network())))
        resp = self.call("CreateContainer", pb.CreateContainerRequest(
            pod_sandbox_id=pod.id, config=config, sandbox_config=pod.config), pb.CreateContainerResponse)
        self.call("StartContainer", pb.StartContainerRequest(container_id=resp.container_id),
                  pb.StartContainerResponse)
        return resp.container_id

    def container_status(self, container_id):
        """(ContainerStatus, info): with verbose, containerd's info["info"]
        is JSON with the container's pid among others."""
        resp = self.call("ContainerStatus", self.pb.ContainerStatusRequest(container_id=container_id, verbose=True),
                         self.pb.ContainerStatusResponse)
        return resp.status, json.loads(resp.info.get("info", "{}"))

    def remove_pod(self, pod_id):
        """StopPodSandbox then RemovePodSandbox (which removes its
        containers), as the kubelet ends a pod."""
        pb = self.pb
        self.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod_id), pb.StopPodSandboxResponse)
        self.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id),
                  pb.RemovePodSandboxResponse)

    def pod_ids(self):
        resp = self.call("ListPodSandbox", self.pb.ListPodSandboxRequest(), self.pb.ListPodSandboxResponse)
        return [p.id for p in resp.items]

    def close(self):
        self.channel.close()
