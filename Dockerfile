# syntax=docker/dockerfile:1
# The operator's image: `docker build -t sagemaker-operator:0.1.0 .` (docs/deploying.md).
#
# Two stages: the first builds a virtual environment from the package, the second copies only
# that environment onto a clean slim base. The final stage has no pip cache, no compiler, no
# source tree, and runs as an unprivileged numeric UID (the chart's podSecurityContext matches).
#
# NB: the base is pinned by its full version tag. To pin by digest as well, append
# `@sha256:...` from `docker buildx imagetools inspect` (no registry is reachable where this
# file was written, so no digest is recorded here rather than an unverified one).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/sagemaker-operator
COPY pyproject.toml README.md ./
COPY operator ./operator
# Every dependency is a pure-Python wheel or ships manylinux wheels: no build tools needed.
RUN /opt/sagemaker-operator/bin/pip install --no-cache-dir --no-compile . \
    && /opt/sagemaker-operator/bin/python -m compileall -q /opt/sagemaker-operator

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="sagemaker-operator" \
      org.opencontainers.image.description="Runs Amazon SageMaker training jobs from Kubernetes TrainingJob resources" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/sagemaker-operator /opt/sagemaker-operator
ENV PATH=/opt/sagemaker-operator/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    USER=sagemaker-operator
# NB: USER because UID 65532 has no passwd entry: kopf's peering identity asks getpass for
# the user name (USER is read before the passwd file), and stops at start-up without one.
# The chart sets POD_ID instead; this keeps a plain `docker run` of the image alive.
# 65532 is the conventional "nonroot" UID; numeric so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["sagemaker-operator", "run"]
