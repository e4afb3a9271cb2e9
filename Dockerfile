# The kubedag operator image: `docker build -t kubedag:0.1.0 .`
#
# Stage 1 installs the locked dependencies and the package into a virtualenv with uv;
# stage 2 copies only that virtualenv onto a clean base, so neither uv nor the sources
# ship in the image.
FROM python:3.11-slim AS build

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

# The virtualenv lives at the same path in both stages and uses the base image's Python,
# so its interpreter symlinks stay valid after the copy.
ENV UV_PROJECT_ENVIRONMENT=/opt/kubedag \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# hatchling reads README.md for the package metadata.
COPY README.md ./
COPY operator ./operator
RUN uv sync --frozen --no-dev --no-editable


FROM python:3.11-slim

COPY --from=build /opt/kubedag /opt/kubedag

# Bytecode was compiled at build time; the root filesystem can then be read-only.
ENV PATH=/opt/kubedag/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A numeric user, so that `runAsNonRoot: true` can verify it without a passwd entry.
USER 65532:65532

ENTRYPOINT ["kubedag"]
CMD ["operator"]
