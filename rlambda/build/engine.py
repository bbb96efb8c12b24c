"""Talking to the Docker engine: connect, find the base image, build with progress, tag, and
the one way to copy out of an image or run a probe container in it."""

import io
import re
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import docker.errors
from docker.models.images import Image

import docker
from rlambda.errors import JobError, UsageError

HOW_TO_START = (
    "Start it with `scripts/start-docker.sh` (installs Debian's docker.io if needed and runs"
    " dockerd in the background), or point DOCKER_HOST at a running engine."
)
_STEP = re.compile(r"^Step ([0-9]+)/([0-9]+) : (.*)")
# R CMD INSTALL's line when a package is installed (src/library/tools/R/install.R).
_DONE = re.compile(r"^\* DONE \(([A-Za-z0-9.]+)\)$")
# The classic builder colours what a RUN step writes to stderr (R CMD INSTALL's `* DONE` lines
# among it): `ESC[0m ESC[91m` before the text, seen in every build log here.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def connect() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as e:
        raise JobError(f"cannot reach the Docker engine ({e}).\n{HOW_TO_START}") from None
    return client


def base_identity(client: docker.DockerClient, ref: str, platform: str) -> str:
    """The image ID of `ref` for `platform` (os/arch), pulling it if no local image of that
    platform is there. Fails clearly if neither works.

    The engine keeps one image per name: after pulling an image index (al2023 and al2 pin the
    index for both architectures) for arm64, the same name gives the arm64 image when asked
    for x86_64. The architecture is therefore checked, never assumed from the name.
    """
    local = find_image_object(client, ref)
    if local is not None and image_platform(local) == platform:
        return local.id
    try:
        pulled = client.images.pull(ref, platform=platform)
    except docker.errors.APIError as e:
        if local is not None:
            raise UsageError(
                f"base image {ref} is present locally only for {image_platform(local)}, not"
                f" {platform}, and cannot be pulled: {e.explanation or e}.\n"
                f"Pull it for that platform where the registry is reachable (docker pull"
                f" --platform {platform} {ref}), or pin a per-architecture manifest digest"
                " (python build.py update resolves them from the image index)."
            ) from None
        raise UsageError(
            f"base image {ref} is not present locally and cannot be pulled:"
            f" {e.explanation or e}.\n"
            "Pull it where the registry is reachable (docker pull/load), or pass --base-image"
            " with a local image of the same family (scripts/make-debian-base.sh makes"
            " rlambda-local/debian:bookworm)."
        ) from None
    if image_platform(pulled) != platform:
        raise UsageError(
            f"base image {ref} is {image_platform(pulled)}, not {platform}: pin the"
            f" {platform} manifest of it in VERSIONS.toml (python build.py update)."
        )
    return pulled.id


# The engine's own architecture (`docker info`) as Docker names platforms.
_NATIVE = {"x86_64": "amd64", "aarch64": "arm64"}
# The binfmt_misc handlers Debian's qemu-user-static registers, by Docker architecture.
_QEMU_HANDLERS = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}
BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")


def check_runs(client: docker.DockerClient, platform: str, *, binfmt: Path | None = None) -> None:
    """Refuse, before any build or container, a platform (linux/arm64) this engine cannot
    execute: neither its own architecture nor one the kernel's binfmt_misc hands to QEMU with
    the F flag (without F, containers cannot see the interpreter). A remote engine's kernel is
    not this one: it is trusted as it is."""
    arch = platform.rpartition("/")[2]
    engine_arch = client.info().get("Architecture", "")
    if _NATIVE.get(engine_arch) == arch:
        return
    if not client.api.base_url.startswith("http+docker://"):
        return
    handler = (binfmt or BINFMT_MISC) / _QEMU_HANDLERS.get(arch, f"qemu-{arch}")
    try:
        lines = handler.read_text().splitlines()
    except OSError:
        lines = []
    flags = next((x.partition(":")[2] for x in lines if x.startswith("flags:")), "")
    if lines[:1] == ["enabled"] and "F" in flags:
        return
    why = "is registered without the F flag" if lines else "is not registered"
    fix = (
        "run scripts/setup-arm64.sh (mounts binfmt_misc, installs qemu-user-static and"
        " registers it)"
        if arch == "arm64"
        else f"register qemu-user-static's {handler.name} handler with the F flag"
    )
    raise UsageError(
        f"this Docker engine runs {engine_arch} and cannot run {platform} containers:"
        f" {handler} {why}. To build or run them here, {fix}; or use a native {arch} machine."
        " Rendering (build.py render) and pushing a built image (registry.py push) need"
        " neither."
    )


def image_platform(image: Image) -> str:
    """os/architecture as Docker records them (linux/amd64, linux/arm64)."""
    return f"{image.attrs.get('Os', '')}/{image.attrs.get('Architecture', '')}"


def find_image_object(client: docker.DockerClient, ref: str) -> Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def find_image(client: docker.DockerClient, ref: str) -> str | None:
    image = find_image_object(client, ref)
    return None if image is None else image.id


@dataclass
class Progress:
    """Prints `[step N/M  elapsed] instruction` lines, and a line per R package a step installs
    (`package n/N name (time)`, from R CMD INSTALL's `* DONE (name)`): a 45-package step would
    otherwise print nothing for minutes. Everything else goes to the log only."""

    started: float
    packages: int = 0  # how many R packages the build installs, when known
    out: TextIO | None = None  # None: sys.stderr as it is when a line is printed
    installed: int = 0
    since: float = 0.0  # when the step or the package before this one ended

    def line(self, text: str) -> None:
        text = _ANSI.sub("", text)
        if match := _STEP.match(text):
            self.step(*match.groups())
        elif match := _DONE.match(text):
            self.package(match[1])

    def step(self, number: str, total: str, instruction: str) -> None:
        self.since = time.monotonic()
        minutes, seconds = divmod(int(self.since - self.started), 60)
        text = " ".join(instruction.split())
        text = text if len(text) <= 90 else text[:87] + "..."
        print(
            f"  [step {number}/{total}  {minutes}m{seconds:02d}s] {text}",
            file=self.out or sys.stderr,
        )

    def package(self, name: str) -> None:
        now = time.monotonic()
        self.installed += 1
        of = f"/{self.packages}" if self.packages else ""
        took = now - (self.since or self.started)
        self.since = now
        print(
            f"      package {self.installed}{of} {name} ({took:.0f}s)", file=self.out or sys.stderr
        )


def build(
    client: docker.DockerClient,
    context_tar: bytes,
    *,
    buildargs: dict[str, str],
    labels: dict[str, str],
    platform: str,
    log_path: Path,
    no_cache: bool = False,
    stage: str | None = None,
    packages: int = 0,
) -> str:
    """Build the context (up to `stage`, if given) and return the image ID. Tags nothing: the
    caller tags on success.

    The engine's whole output goes to `log_path`; on failure its path is in the error.
    `packages`: how many R packages it installs, for the progress lines.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(started=time.monotonic(), packages=packages)
    image_id = None
    with log_path.open("w") as log:
        try:
            stream = client.api.build(
                fileobj=io.BytesIO(context_tar),
                custom_context=True,
                rm=True,
                forcerm=True,
                nocache=no_cache,
                decode=True,
                buildargs=buildargs,
                labels=labels,
                platform=platform,
                target=stage,
            )
            pending = ""  # a line the engine has not finished sending
            for item in stream:
                if "stream" in item:
                    text = item["stream"]
                    log.write(text)
                    *lines, pending = (pending + text).split("\n")
                    for line in lines:
                        progress.line(line.strip())
                elif "aux" in item and "ID" in item["aux"]:
                    image_id = item["aux"]["ID"]
                elif "error" in item:
                    log.write(f"ERROR: {item['error']}\n")
                    raise JobError(
                        f"the build failed: {item['error'].strip()}\nfull log: {log_path}"
                    )
                else:
                    log.write(f"{item}\n")
        except docker.errors.DockerException as e:
            log.write(f"ERROR: {e}\n")
            raise JobError(f"the build failed: {e}\nfull log: {log_path}") from None
    if image_id is None:
        raise JobError(f"the engine reported no image ID for the build\nfull log: {log_path}")
    return image_id


def tag(client: docker.DockerClient, image_id: str, repository: str, tags: list[str]) -> None:
    image = client.images.get(image_id)
    for name in tags:
        image.tag(repository, name)


# On every short-lived container started to copy out of an image or probe it, so any left
# behind by a crash can be found: `docker ps -a --filter label=io.rlambda.probe`.
PROBE_LABELS = {"io.rlambda.probe": "1"}


def copy_out(client: docker.DockerClient, image: str, path: str) -> tarfile.TarFile:
    """`path` in `image` as a tar archive (its last component the top entry), without running
    the image: a created container is read and removed."""
    container = client.containers.create(
        image, entrypoint=["/bin/true"], command=[], labels=PROBE_LABELS
    )
    try:
        chunks, _ = container.get_archive(path)
        return tarfile.open(fileobj=io.BytesIO(b"".join(chunks)))
    finally:
        container.remove(force=True)


def probe(
    client: docker.DockerClient,
    image: str,
    script: str,
    args: Sequence[str] = (),
    *,
    purpose: str,
    stderr: bool = True,
    **options: Any,
) -> str:
    """The output of `sh -c script` in a throw-away container of `image`, with no network.
    A failure is a JobError naming `purpose` (what the probe was for) and the image."""
    try:
        out = client.containers.run(
            image,
            ["-c", script, "sh", *args],
            entrypoint=["/bin/sh"],
            network_mode="none",
            remove=True,
            stdout=True,
            stderr=stderr,
            labels=PROBE_LABELS,
            **options,
        )
    except docker.errors.ContainerError as e:
        detail = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) else e
        raise JobError(f"{purpose} failed inside {image[:19]}: {detail or e}") from None
    except docker.errors.DockerException as e:  # the image is absent and cannot be pulled
        raise JobError(f"cannot run {image} for {purpose}: {e}") from None
    return out.decode("utf-8", "replace")
