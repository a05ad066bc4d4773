#!/usr/bin/env bash
# Builds the crmsync image and checks that it runs as documented (docs/operations.md), against a normal Docker
# Engine with internet access. Takes about a minute after the build (the first HEALTHCHECK runs after 30 s).
#
#   scripts/docker-smoke.sh                        # build crmsync:smoke from the repository, then check it
#   SKIP_BUILD=1 IMAGE=crmsync:1.2 scripts/docker-smoke.sh   # check an image you already have
#   scripts/docker-smoke.sh --pull --no-cache      # extra arguments go to `docker build`
#
# Checks: uid 10001; `crmsync config check` and `crmsync demo`; the daemon
# with a read-only root filesystem answers /healthz and /readyz on the published port, writes its state to
# /data, turns `healthy`; `docker stop` (SIGTERM) exits 0. Exits non-zero at the first failed check.
# Not part of the test suite: it needs Docker.
set -euo pipefail

IMAGE=${IMAGE:-crmsync:smoke}
PORT=${PORT:-18080}                  # host port published to the container's 8080 (on 127.0.0.1 only)
HEALTH_WAIT=${HEALTH_WAIT:-100}      # seconds: start period 60 s, interval 30 s
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=crmsync-smoke-$$
VOLUME=crmsync-smoke-data-$$

ok() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*" >&2; exit 1; }
cleanup() {
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    docker volume rm "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [[ -z ${SKIP_BUILD:-} ]]; then
    docker build -t "$IMAGE" "$@" "$ROOT"
fi
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
ok "image $IMAGE: $((size / 1000000)) MB"

user=$(docker image inspect --format '{{.Config.User}}' "$IMAGE")
[[ $user == 10001:10001 ]] || fail "image USER is '$user', expected 10001:10001"
uid=$(docker run --rm --entrypoint id "$IMAGE" -u)
[[ $uid == 10001 ]] || fail "the container runs as uid $uid"
ok "runs as uid $uid (USER $user)"

docker run --rm "$IMAGE" config check >/dev/null || fail "crmsync config check rejects the image's /config/crmsync.yaml"
ok "crmsync config check: the image's default settings are valid"

demo=$(docker run --rm --read-only --tmpfs /tmp "$IMAGE" demo --contacts 50 2>&1) || { echo "$demo" >&2; fail "crmsync demo"; }
grep -q 'Funnel' <<<"$demo" || { echo "$demo" >&2; fail "crmsync demo printed no funnel"; }
ok "$(grep -A1 -m1 'sandbox CRMs' <<<"$demo" | tr -s ' \n' ' ')"

# the daemon as compose runs it: read-only root, /tmp in memory, a named volume for /data, no new privileges
docker run -d --name "$NAME" --read-only --tmpfs /tmp --security-opt no-new-privileges:true \
    --stop-timeout 40 -p "127.0.0.1:$PORT:8080" -v "$VOLUME:/data" "$IMAGE" >/dev/null
probe() {  # GET a path on the published port; the HTTP status, or 000
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$PORT$1" || true
}
for _ in $(seq 30); do
    [[ $(probe /healthz) == 200 ]] && break
    sleep 1
done
[[ $(probe /healthz) == 200 ]] || { docker logs "$NAME" >&2; fail "/healthz on the published port 127.0.0.1:$PORT"; }
ok "/healthz answers 200 on the published port"
for _ in $(seq 30); do
    [[ $(probe /readyz) == 200 ]] && break
    sleep 1
done
[[ $(probe /readyz) == 200 ]] || { curl -s "http://127.0.0.1:$PORT/readyz" >&2; fail "/readyz"; }
ok "/readyz answers 200 (every sandbox account synced)"
docker exec "$NAME" test -s /data/var/crmsync.db || fail "no SQLite state in /data/var/crmsync.db"
docker exec "$NAME" sh -c 'touch /data/.smoke && rm /data/.smoke' || fail "/data is not writable by uid 10001"
ok "state written to the /data volume by uid 10001"

status=starting
for _ in $(seq "$HEALTH_WAIT"); do
    status=$(docker inspect --format '{{.State.Health.Status}}' "$NAME")
    [[ $status == starting ]] || break
    sleep 1
done
[[ $status == healthy ]] || { docker inspect --format '{{json .State.Health}}' "$NAME" >&2; fail "health status $status"; }
ok "HEALTHCHECK: $status"

start=$SECONDS
docker stop "$NAME" >/dev/null
took=$((SECONDS - start))
code=$(docker inspect --format '{{.State.ExitCode}}' "$NAME")
[[ $code == 0 ]] || { docker logs "$NAME" 2>&1 | tail -n 20 >&2; fail "docker stop: exit code $code after ${took}s"; }
docker logs "$NAME" 2>&1 | grep -q '"shutdown_complete"' || fail "no shutdown_complete in the log"
ok "docker stop: exit 0 after ${took}s (shutdown_complete logged)"
echo "all checks passed"
