# The lab on the CPU (the GPU image: Dockerfile.gpu).
#   docker build -t lab:cpu .
#   docker run --rm -v "$PWD/runs:/runs" lab:cpu run first_network        # -> runs/<time>-first_network
#   docker run --rm -v "$PWD/runs:/runs" -v /data/mnist:/opt/shared/datasets:ro lab:cpu run mnist_mlp_book
# The lab is installed from this repository (editable, in /opt/lab: the shipped scenarios are found by
# name); `lab` is the entry point; runs are written to the volume /runs (the working folder is /, so
# the scenarios' default output `runs/` is /runs). Data sets the lab looks for beside itself
# (../shared/datasets) are read from /opt/shared/datasets when mounted there. The `serve` extra is in,
# so the image can also run `lab serve` (see `lab deploy k8s --serve`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SDL_VIDEODRIVER=dummy \
    MPLBACKEND=Agg

WORKDIR /opt/lab
COPY pyproject.toml README.md LICENSE ./
COPY lab ./lab
COPY envs ./envs
COPY agents ./agents
COPY generative ./generative
COPY supervised ./supervised
COPY scenarios ./scenarios
RUN pip install --no-cache-dir -e ".[tensorflow,serve]" \
    && useradd --create-home --uid 1000 lab \
    && mkdir /runs \
    && chown lab:lab /runs

USER 1000:1000
WORKDIR /
VOLUME ["/runs"]
ENTRYPOINT ["lab"]
CMD ["--help"]
