#!/usr/bin/env bash
# Builds the crmsync image and checks that it runs as documented (docs/operations.md), against a normal Docker
# Engine with internet access. Takes about a minute after the build (the first HEALTHCHECK runs after 30 s).
#
#   scripts/docker-smoke.sh                        # build crmsync:smoke from the repository, then check it
#   SKIP_BUILD=1 IMAGE=crmsync:1.2 scripts/docker-smoke.sh   # check an image you already have
#   scripts/docker-smoke.sh --pull --no-cache      # extra arguments go to `docker build`
#   scripts/docker-smoke.sh --print-readme-block   # print the README block it runs, and stop
#
# Checks: uid 10001; `crmsync config check` and `crmsync demo`; the daemon
# with a read-only root filesystem answers /healthz and /readyz on the published port, writes its state to
# /data, turns `healthy`; `docker stop` (SIGTERM) exits 0. Then README's container block, run as written
# (in a scratch copy of the repository's files, under a compose project name of its own; it needs
# 127.0.0.1:8080 free and no `crmsync-sandbox` container nor `crmsync-data` volume, which it refuses to
# touch): the compose stack answers /healthz on the published port, `crmsync config check` accepts the
# settings the block copied (the rules file and the mounted secret included), the state store is
# PostgreSQL; `docker compose up --scale crmsync=3` runs three replicas, each answering on its own host
# port; and `docker compose stop` exits 0 for each. Exits non-zero at the first failed check.
# Not part of the test suite (it needs Docker); tests/test_container.py checks the README block against
# the Dockerfile and compose.yaml without it.
set -euo pipefail

IMAGE=${IMAGE:-crmsync:smoke}
PORT=${PORT:-18080}                  # host port published to the container's 8080 (on 127.0.0.1 only)
HEALTH_WAIT=${HEALTH_WAIT:-100}      # seconds: start period 60 s, interval 30 s
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# README's container block: the first ```sh block after the heading "### The container"
readme_block() {
    awk '/^### The container/ { section = 1; next }
         section && /^```sh$/ { inside = 1; next }
         inside && /^```$/ { exit }
         inside { print }' "$ROOT/README.md"
}
if [[ ${1:-} == --print-readme-block ]]; then
    readme_block
    exit 0
fi
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

# --- README's container block, as written ----------------------------------------------------------------
SCRATCH=$(mktemp -d)
export COMPOSE_PROJECT_NAME=crmsync-smoke-$$
readme_cleanup() {
    (cd "$SCRATCH" && docker compose down -v --timeout 40 >/dev/null 2>&1) || true
    docker rm -f crmsync-sandbox >/dev/null 2>&1 || true
    docker volume rm crmsync-data >/dev/null 2>&1 || true
    rm -rf "$SCRATCH"
}
if docker container inspect crmsync-sandbox >/dev/null 2>&1 || docker volume inspect crmsync-data >/dev/null 2>&1; then
    fail "README block: a crmsync-sandbox container or a crmsync-data volume exists already; not touching them"
fi
if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:8080/ || true) != 000 ]]; then
    fail "README block: 127.0.0.1:8080 is in use"
fi
trap 'readme_cleanup; cleanup' EXIT
git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 tar -cf -) | tar -xf - -C "$SCRATCH"
(cd "$SCRATCH" && bash -euxo pipefail -c "$(readme_block)") || fail "README's container block stopped on an error"
ok "README's container block ran top to bottom"
compose() { (cd "$SCRATCH" && docker compose "$@"); }
[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:8080/healthz) == 200 ]] \
    || { compose logs crmsync >&2; fail "compose: /healthz on the published port 127.0.0.1:8080"; }
ok "compose: /healthz answers 200 on the published port"
compose exec -T crmsync crmsync config check || fail "compose: crmsync config check rejects the settings the block copied"
compose exec -T crmsync test -s /run/secrets/salesforce_client_secret || fail "compose: the secret is not mounted"
ok "compose: config check accepts the copied settings, rules file and mounted secret"
state=$(curl -s --max-time 3 http://127.0.0.1:8080/readyz)
tr -d ' \n' <<<"$state" | grep -q '"state_store":{"ok":true' || { echo "$state" >&2; fail "compose: the state store (PostgreSQL) is not ready"; }
ok "compose: the state store in PostgreSQL is at its schema"
# --- three replicas on the one PostgreSQL: each on a host port of the range, each answering --------------------
compose up -d --scale crmsync=3 >/dev/null || fail "compose up --scale crmsync=3"
for index in 1 2 3; do
    address=$(compose port --index "$index" crmsync 8080) || fail "compose: replica $index publishes no port"
    answered=
    for _ in $(seq 60); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$address/healthz" || true) == 200 ]] \
            && { answered=1; break; }
        sleep 1
    done
    [[ -n $answered ]] || { compose logs crmsync >&2; fail "compose --scale: replica $index at $address"; }
done
ok "compose --scale crmsync=3: three replicas, each answering /healthz on its own host port"
start=$SECONDS
compose stop crmsync >/dev/null
for container in $(compose ps -a -q crmsync); do
    code=$(docker inspect --format '{{.State.ExitCode}}' "$container")
    [[ $code == 0 ]] || fail "compose stop: exit code $code after $((SECONDS - start))s"
done
ok "compose stop: every replica exited 0 after $((SECONDS - start))s"
echo "all checks passed"
