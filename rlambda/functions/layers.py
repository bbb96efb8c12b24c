"""registry.py publish-layer: a layer zip written by `build.py --layer` as a Lambda layer version.

Checked before anything is uploaded: the zip is an rlambda layer (its manifest), the
architecture asked for is the one its binaries are built for (read from their ELF header, not
only from the manifest), and a layer built on another family than al2023 is refused unless
asked for: provided.al2023 has glibc 2.34, and a layer built on a newer glibc fails there at
the first `dlopen`. Zips up to 50 MB go up directly; bigger ones go through --s3-bucket
(Lambda's limit for a direct upload).
"""

import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions

from rlambda import aws
from rlambda.build import layer_zip
from rlambda.build.layer_zip import COMPATIBLE_RUNTIME
from rlambda.errors import UsageError
from rlambda.pins.platforms import ARCHITECTURES

# LayerName: "[a-zA-Z0-9-_]+", 1-140 characters (Lambda API reference, PublishLayerVersion).
_LAYER_NAME = re.compile(r"[a-zA-Z0-9_-]{1,140}")
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # Lambda quotas: 50 MB zipped, uploaded directly
LICENSE_INFO_LIMIT = 512
# ELF e_machine (bytes 18-19, little-endian): EM_X86_64 62, EM_AARCH64 183.
_ELF_MACHINES = {62: "x86_64", 183: "arm64"}


@dataclass(frozen=True)
class LayerRequest:
    zip_path: Path
    name: str
    arch: str | None = None  # default: the layer's own
    license_info: str | None = None  # default: R's and the packages' licences, from the layer
    description: str | None = None
    s3_bucket: str | None = None
    any_family: bool = False


@dataclass(frozen=True)
class CheckedLayer:
    request: LayerRequest
    manifest: dict
    arch: str
    license_info: str
    description: str


def binary_arch(zip_path: Path) -> str | None:
    """The architecture of the first ELF file in the zip (None if it holds none)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if info.file_size < 20:
                continue
            with zf.open(info) as f:
                head = f.read(20)
            if head[:4] == b"\x7fELF":
                machine = int.from_bytes(head[18:20], "little")
                return _ELF_MACHINES.get(machine, f"ELF machine {machine}")
    return None


def _licences(manifest: dict) -> str:
    licences = manifest.get("licenses") or {}
    text = "; ".join(f"{name}: {value}" for name, value in licences.items())
    if len(text) > LICENSE_INFO_LIMIT:
        raise UsageError(
            f"the layer's licences take {len(text)} characters, over Lambda's"
            f" {LICENSE_INFO_LIMIT} for LicenseInfo: pass --license-info (an SPDX identifier or a"
            " URL)"
        )
    return text


def check(request: LayerRequest) -> CheckedLayer:
    """Every input, before anything is uploaded; UsageError names the first bad one."""
    path = request.zip_path
    if not _LAYER_NAME.fullmatch(request.name):
        raise UsageError(f"--name {request.name!r}: letters, digits, - and _ only, 1-140 of them")
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise UsageError(f"{path}: not a zip file (write one with build.py --layer)")
    manifest = layer_zip.manifest(path)
    if manifest is None:
        raise UsageError(f"{path}: no rlambda-layer-*.json inside: not written by build.py --layer")
    if request.arch is not None and request.arch not in ARCHITECTURES:
        raise UsageError(f"--arch {request.arch!r}: expected one of {', '.join(ARCHITECTURES)}")
    built_for = binary_arch(path) or manifest["arch"]
    if built_for != manifest["arch"]:
        raise UsageError(
            f"{path}: its manifest says {manifest['arch']} but its binaries are {built_for}"
        )
    if request.arch is not None and request.arch != built_for:
        raise UsageError(
            f"--arch {request.arch}, but {path.name} is built for {built_for}: Lambda would load"
            f" it and fail at the first binary. Publish it as {built_for}, or build the layer"
            f" with --arch {request.arch}."
        )
    if manifest["family"] != "al2023" and not request.any_family:
        raise UsageError(
            f"{path.name} was built on the {manifest['family']} family, not al2023: its binaries"
            f" need that family's C library, which {COMPATIBLE_RUNTIME} (glibc 2.34) may not"
            " have. Build it with --family al2023, or pass --any-family to publish it anyway."
        )
    size = path.stat().st_size
    if size > DIRECT_UPLOAD_LIMIT and not request.s3_bucket:
        raise UsageError(
            f"{path.name} is {size / 2**20:.1f} MiB zipped, over the 50 MB Lambda takes"
            " directly: pass --s3-bucket BUCKET (in the same region)"
        )
    description = request.description or (
        f"R {manifest['r_version']}"
        + (f", recipe {manifest['recipe']}" if manifest.get("recipe") else "")
        + f" ({manifest['kind']} layer, {manifest['family']}, {built_for}), by rlambda"
    )
    return CheckedLayer(
        request, manifest, built_for, request.license_info or _licences(manifest), description
    )


def publish(lam, checked: CheckedLayer, s3=None) -> dict:
    """Publish the layer version; returns its ARN, version and sha256."""
    request = checked.request
    digest = layer_zip.sha256(request.zip_path)
    if request.s3_bucket:
        key = f"rlambda-layers/{request.name}/{digest}.zip"
        try:
            s3.upload_file(str(request.zip_path), request.s3_bucket, key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            doing = f"uploading {request.zip_path.name} to s3://{request.s3_bucket}"
            raise aws.explain(e, doing) from e
        content = {"S3Bucket": request.s3_bucket, "S3Key": key}
    else:
        content = {"ZipFile": request.zip_path.read_bytes()}
    print(f"==> publishing {request.zip_path.name} as layer {request.name}", file=sys.stderr)
    try:
        answer = lam.publish_layer_version(
            LayerName=request.name,
            Description=checked.description[:256],
            Content=content,
            CompatibleRuntimes=[COMPATIBLE_RUNTIME],
            CompatibleArchitectures=[checked.arch],
            LicenseInfo=checked.license_info,
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise aws.explain(e, f"publishing layer {request.name}") from e
    return {
        "layer_version_arn": answer["LayerVersionArn"],
        "version": answer["Version"],
        "architecture": checked.arch,
        "compatible_runtimes": [COMPATIBLE_RUNTIME],
        "license_info": checked.license_info,
        "sha256": digest,
    }
