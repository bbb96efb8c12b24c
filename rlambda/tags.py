"""Image names and tags, as pure functions of a build's inputs."""

# The local repository every image is tagged into; registry.py maps it to ECR.
REPOSITORY = "r-lambda"


def readable_tag(r_version: str, family_name: str, arch: str) -> str:
    """The tag people read and the directory under images/: r-4.5.0-debian-x86_64."""
    return f"r-{r_version}-{family_name}-{arch}"


def content_tag(content_hash: str) -> str:
    """The tag naming exactly one set of inputs (the build context and the base image)."""
    return f"content-{content_hash[:16]}"
