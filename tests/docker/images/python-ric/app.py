"""Handlers of the python-ric test image; `handler` dispatches on event["op"]."""

import errno
import http.client
import os
import socket


def _echo(event, context):
    return event


def _fail(event, context):
    raise ValueError(f"boom: {event['why']}")


def _try_write(path):
    try:
        with open(path, "w") as out:
            out.write("x")
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"


def _sandbox(event, context):
    tmp = os.statvfs("/tmp")
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "write_task_root": _try_write("/var/task/written"),
        "write_root": _try_write("/written"),
        "write_tmp": _try_write("/tmp/written"),
        "tmp_size_mb": tmp.f_blocks * tmp.f_frsize // (1024 * 1024),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
    }


def _allocate(event, context):
    block = bytearray(event["mb"] * 1024 * 1024)
    # Touch every page so the memory is really resident (and counted by the cgroup).
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    return len(block)


def _network(event, context):
    """What the function can reach: its interfaces, and a TCP connect to each address."""
    reached = {}
    for host, port in event["connect"]:
        try:
            socket.create_connection((host, port), timeout=2).close()
            reached[f"{host}:{port}"] = "ok"
        except OSError as exc:
            reached[f"{host}:{port}"] = errno.errorcode.get(exc.errno, str(exc))
    # The emulator's invoke route is not on the Runtime API the function sees.
    api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=5)
    api.request("POST", "/2015-03-31/functions/function/invocations", b"{}")
    invoke_route = api.getresponse().status
    with open("/proc/net/route") as table:
        routes = table.read().splitlines()[1:]  # after the header: a default route, if any
    return {
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "routes": routes,
        "connect": reached,
        "pid": os.getpid(),
        "invoke_route": invoke_route,
    }


OPS = {
    "echo": _echo,
    "fail": _fail,
    "sandbox": _sandbox,
    "allocate": _allocate,
    "network": _network,
}


def handler(event, context):
    op = event.get("op", "echo") if isinstance(event, dict) else "echo"
    return OPS[op](event, context)
