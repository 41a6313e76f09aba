# pglib.sh - a real PostgreSQL server for a test, made in its folder with
# initdb and started with pg_ctl as the unprivileged user postgres,
# stopped when the test ends. Source after lib.sh; skips the whole test
# unless root with Debian's postgresql server installed.
#
#   pg_setup          initdb, start, createdb mctl
#   pg_start/pg_stop  start and stop the server (fast shutdown)
#   psql_q SQL        one query's rows, unaligned
#   $DSN              a libpq connection string for the database mctl

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ "$(id -u)" != 0 ] || [ -z "$PGBIN" ] || ! id -u postgres > /dev/null 2>&1; then
    echo "1..0 # SKIP needs root and the postgresql server package"
    exit 0
fi
PGPORT=$(while :; do p=$((20000 + RANDOM % 12000)); ss -Hltn | awk '{print $4}' | grep -qE ":$p\$" || { echo $p; break; }; done)
PGDIR=$T/pg
DSN="host=$PGDIR/sock port=$PGPORT dbname=mctl user=postgres connect_timeout=2"
as_pg() { runuser -u postgres -- "$@"; }
pg_start() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$T/log/postgres" -w -t 30 start > /dev/null; }
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop > /dev/null; }
psql_q() { as_pg "$PGBIN/psql" -h "$PGDIR/sock" -p "$PGPORT" -d mctl -At -c "$1"; }
# For wait_until, evaluated at each poll: a query prints the value.
query_is() { test "$(psql_q "$1" 2>/dev/null)" = "$2"; }
pg_setup() {
    mkdir -p "$PGDIR/sock" && chown -R postgres "$PGDIR" &&
        touch "$T/log/postgres" && chown postgres "$T/log/postgres" &&
        as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres -E UTF8 --no-instructions \
            > "$T/log/initdb" 2>&1 &&
        printf "%s\n" "port = $PGPORT" "listen_addresses = ''" \
            "unix_socket_directories = '$PGDIR/sock'" >> "$PGDIR/data/postgresql.conf" &&
        pg_start &&
        as_pg "$PGBIN/createdb" -h "$PGDIR/sock" -p "$PGPORT" mctl
}
# The server processes a test stopped (SIGSTOP), as a list of pids:
# continued at cleanup.
PG_STOPPED=
# Called by lib.sh's cleanup when the test ends, however it ends.
test_cleanup_hook() {
    # shellcheck disable=SC2086 # a list of pids
    [ -z "$PG_STOPPED" ] || kill -CONT $PG_STOPPED 2> /dev/null
    [ -f "$PGDIR/data/postmaster.pid" ] &&
        as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop > /dev/null 2>&1
    return 0
}
