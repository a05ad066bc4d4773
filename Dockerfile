# syntax=docker/dockerfile:1
# crmsync: the sync daemon. Two stages: build a virtual environment with the package, then copy only that
# environment onto a clean slim image, so no pip cache or source tree ships in the final image.
#
#   docker build -t crmsync .
#   docker run -d --stop-timeout 40 -p 127.0.0.1:8080:8080 crmsync     # the built-in defaults: sandbox CRMs
#   docker run -d --stop-timeout 40 -p 127.0.0.1:8080:8080 \
#       -v /path/to/your/config:/config:ro -v crmsync-data:/data --env-file crmsync.env crmsync
#
# The ops server listens on $CRMSYNC_HTTP_HOST:$CRMSYNC_HTTP_PORT (0.0.0.0:8080), whatever `http:` in the
# mounted settings says. --stop-timeout: Docker's default of 10 s kills a daemon still finishing its batch in
# flight (it takes up to 25 s); compose.yaml sets 40 s itself. README's container section runs as written.
#
# See docs/operations.md for the endpoints, metrics, signals and log format.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/crmsync
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY sync ./sync
COPY connectors ./connectors
# a regular (non-editable) install: the image runs exactly what a user installs from the wheel
RUN /opt/crmsync/bin/pip install .


FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="crmsync" \
      org.opencontainers.image.description="Keeps every contact in HubSpot, Salesforce and Pipedrive scored, classified and SLA-checked." \
      org.opencontainers.image.licenses="Apache-2.0"
# CRMSYNC_HTTP_HOST and CRMSYNC_HTTP_PORT override `http:` in the settings (sync/settings.py): a mounted
# settings file written for a laptop (127.0.0.1) still listens on the published port, and the HEALTHCHECK
# below probes the port the daemon really uses. Change the port with -e CRMSYNC_HTTP_PORT=... (and -p).
# No TTY in a container, so the logs are JSON lines on stderr (sync.log picks JSON when stderr is not a TTY).
ENV PATH="/opt/crmsync/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/data \
    CRMSYNC_CONFIG=/config/crmsync.yaml \
    CRMSYNC_HTTP_HOST=0.0.0.0 \
    CRMSYNC_HTTP_PORT=8080
RUN groupadd --system --gid 10001 crmsync \
 && useradd --system --uid 10001 --gid crmsync --home-dir /data --no-create-home --shell /usr/sbin/nologin crmsync \
 && mkdir -p /config /data \
 && chown crmsync:crmsync /data
COPY --from=build /opt/crmsync /opt/crmsync
# the shipped defaults and examples (settings, rules and their schemas); production mounts its own
# directory over /config, read-only, holding its crmsync.yaml and the rules file it names
COPY config/ /config/
# numeric, so an orchestrator's "run as non-root" check can verify it without reading /etc/passwd
USER 10001:10001
WORKDIR /data
VOLUME ["/config", "/data"]
EXPOSE 8080
# exec-form ENTRYPOINT: crmsync is PID 1 and receives SIGTERM itself (a shell form would swallow it)
STOPSIGNAL SIGTERM
# slim has no curl: probe /healthz with the image's own Python; any error (refused, 503, timeout) exits 1
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('CRMSYNC_HTTP_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["crmsync"]
CMD ["run"]
