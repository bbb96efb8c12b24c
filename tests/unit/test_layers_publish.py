"""registry.py publish-layer against moto: a layer zip becomes a layer version for
provided.al2023, and a wrong architecture, family or zip is refused before any upload."""

import json
import shutil
from pathlib import Path

import boto3
import pytest

import registry as registry_cli
from rlambda.build import layer_zip

from ..registry.stand_ins import REGION

TRUE = Path(shutil.which("true") or "/bin/true")  # an x86_64 ELF on the machines tests run on


def make_layer(tmp_path: Path, *, family: str = "al2023", arch: str = "x86_64") -> Path:
    """A small layer zip as build.py --layer writes it: a real ELF where R's binary goes."""
    root = tmp_path / "opt"
    binary = root / "lang" / "lib" / "R" / "bin" / "exec" / "R"
    binary.parent.mkdir(parents=True)
    shutil.copyfile(TRUE, binary)
    binary.chmod(0o755)
    (root / "bootstrap").write_text("#!/bin/sh\nexec /opt/runtime/bootstrap\n")
    manifest = {
        "kind": "r",
        "r_version": "4.5.0",
        "family": family,
        "arch": arch,
        "recipe": None,
        "licenses": {"R": "GPL-2 | GPL-3", "jsonlite": "MIT + file LICENSE"},
    }
    dest = tmp_path / "r-4.5.0-al2023-x86_64.zip"
    layer_zip.write(root, [binary, root / "bootstrap"], dest, manifest)
    return dest


def published(lambda_client, name: str) -> list[dict]:
    return lambda_client.list_layer_versions(LayerName=name)["LayerVersions"]


def test_publish_prints_the_version_arn(tmp_path, lambda_client, capsys):
    zip_path = make_layer(tmp_path)
    assert registry_cli.main(["publish-layer", str(zip_path), "--name", "r-4-5-0"]) == 0
    arn = capsys.readouterr().out.strip()
    assert arn.startswith(f"arn:aws:lambda:{REGION}:") and arn.endswith(":layer:r-4-5-0:1")
    version = lambda_client.get_layer_version(LayerName="r-4-5-0", VersionNumber=1)
    assert version["CompatibleRuntimes"] == ["provided.al2023"]
    assert version["CompatibleArchitectures"] == ["x86_64"]
    assert version["LicenseInfo"] == "R: GPL-2 | GPL-3; jsonlite: MIT + file LICENSE"


def test_publish_through_s3_with_json(tmp_path, aws, capsys):
    where = {} if REGION == "us-east-1" else {"LocationConstraint": REGION}
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="layers", **({"CreateBucketConfiguration": where} if where else {})
    )
    zip_path = make_layer(tmp_path)
    argv = ["publish-layer", str(zip_path), "--name", "r", "--s3-bucket", "layers", "--json"]
    assert registry_cli.main([*argv, "--license-info", "GPL-2.0-or-later"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["version"] == 1 and answer["license_info"] == "GPL-2.0-or-later"
    assert answer["sha256"] == layer_zip.sha256(zip_path)
    keys = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket="layers")["Contents"]
    assert [k["Key"] for k in keys] == [f"rlambda-layers/r/{answer['sha256']}.zip"]


@pytest.mark.parametrize(
    ("layer", "extra", "message"),
    [
        ({}, ["--arch", "arm64"], "is built for x86_64"),
        ({"arch": "arm64"}, [], "its manifest says arm64 but its binaries are x86_64"),
        ({"family": "debian"}, [], "--any-family"),
        ({}, ["--name", "no spaces"], "letters, digits"),
    ],
)
def test_bad_input_is_refused_before_upload(tmp_path, lambda_client, capsys, layer, extra, message):
    zip_path = make_layer(tmp_path, **layer)
    argv = ["publish-layer", str(zip_path), "--name", "r-4-5-0", *extra]
    assert registry_cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert published(lambda_client, "r-4-5-0") == []


def test_a_zip_not_written_by_build_py_is_refused(tmp_path, lambda_client, capsys):
    other = tmp_path / "other.zip"
    shutil.make_archive(str(other.with_suffix("")), "zip", root_dir=TRUE.parent, base_dir="true")
    assert registry_cli.main(["publish-layer", str(other), "--name", "x"]) == 2
    assert "not written by build.py --layer" in capsys.readouterr().err
