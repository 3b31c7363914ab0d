# The dockyard agent image: core + the mesos, fetcher and docker plugins in a venv.
#
#   docker build -t dockyard .
#   docker run -d --name dockyard --network host \
#       -v /var/run/docker.sock:/var/run/docker.sock \
#       -v /var/lib/dockyard:/var/lib/dockyard \
#       dockyard --containerizers=docker --docker_mesos_image=dockyard
#
# docs/running-in-docker.md explains the mounts and the flag. Build arguments:
#   BASE_IMAGE   any image with Python >= 3.11 and its venv module (`python3 -m venv`).
#   PIP_OPTIONS  extra `pip install` options, e.g. for an offline build from a wheelhouse
#                put in the build context: --no-index --find-links=/build/wheels
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG PIP_OPTIONS=""
COPY . /build
RUN python3 -m venv /opt/dockyard \
    && /opt/dockyard/bin/pip install --no-cache-dir --disable-pip-version-check ${PIP_OPTIONS} \
        /build/core /build/plugins/mesos /build/plugins/fetcher /build/plugins/docker \
    && rm -rf /build

ENV PATH=/opt/dockyard/bin:$PATH
ENTRYPOINT ["dockyard", "agent"]
