#!/usr/bin/env bash
# Real PostgreSQL and a real Apache Kafka broker on loopback, for tests and local development,
# without Docker. Everything lives under the repository's var/ folder (git-ignored).
#
#   scripts/services.sh up       start both (idempotent; reuses whatever already answers)
#   scripts/services.sh down     stop what this script started (Kafka by its PID file, PostgreSQL
#                                by pg_ctl on its own data directory)
#   scripts/services.sh status   say whether each one is up (exit 0 only when both are)
#   scripts/services.sh env      print the export lines (also written to var/services.env by up)
#
# PostgreSQL: Debian's packages (installed with apt-get when missing), a cluster made with initdb
#   in var/pg/data (or /tmp/... when the postgres OS user cannot reach var/), run as the postgres
#   OS user, listening on 127.0.0.1:${PGPORT:-55432} only, trust auth (a throwaway dev cluster).
#   Role registry/registry (superuser) and databases pr_registry, pr_notifier, pr_reporting.
# Kafka: the broker jars from Maven Central (tools/kafka/pom.xml, copied once into
#   var/kafka/libs), one combined KRaft node on 127.0.0.1:${KAFKA_PORT:-9092} (controller on
#   ${KAFKA_CONTROLLER_PORT:-9093}), data in var/kafka/data, logs in var/kafka/logs.
#
# A second, independent pair (e.g. the fault-injection tests, which stop and kill their servers):
#   SERVICES_VAR_DIR=/tmp/other PGPORT=55440 KAFKA_PORT=9192 KAFKA_CONTROLLER_PORT=9193 \
#   KAFKA_LIBS=var/kafka/libs scripts/services.sh up|down|status
# keeps everything (cluster, broker data, PID file, services.env) under that folder, so `down`
# with the same SERVICES_VAR_DIR stops only that pair and never the default one.
#
# Settings (environment): SERVICES_VAR_DIR (default var/ of the repository; must be reachable
#   by the postgres OS user, else the cluster goes under /tmp as below), KAFKA_LIBS (folder of
#   broker jars to use instead of fetching them, e.g. the default pair's var/kafka/libs),
#   PGPORT, KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_HEAP_OPTS
#   (default "-Xms256m -Xmx512m"), KAFKA_WAIT_SECONDS (default 90), PYTHON (default .venv/bin/python,
#   else python3; needs kafka-python for the readiness probe), PG_SUPERUSER (role used to create
#   the role/databases on a server this script did not start; default postgres), MVN_ARGS (extra
#   arguments for mvn, e.g. -Dmaven.repo.local=...).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VAR="${SERVICES_VAR_DIR:-$ROOT/var}"
mkdir -p "$VAR"
VAR="$(cd "$VAR" && pwd -P)"

PG_HOST=127.0.0.1
PGPORT="${PGPORT:-55432}"
PG_ROLE=registry
PG_PASSWORD=registry
PG_DATABASES=(pr_registry pr_notifier pr_reporting)
PG_LOCATION_FILE="$VAR/pg.location"   # which data directory `up` chose (var/pg or /tmp/...)

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_POM="$ROOT/tools/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
KAFKA_DIR="$VAR/kafka"
KAFKA_LIBS="${KAFKA_LIBS:-$KAFKA_DIR/libs}"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
KAFKA_LOG4J="$ROOT/tools/kafka/log4j2.properties"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_WAIT_SECONDS="${KAFKA_WAIT_SECONDS:-90}"
KAFKA_STOP_SECONDS="${KAFKA_STOP_SECONDS:-60}"

ENV_FILE="$VAR/services.env"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

python_bin() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"
    elif [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"
    else echo python3
    fi
}

# True when something accepts TCP connections on host:port.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# ----------------------------------------------------------------------------- PostgreSQL --
pg_bin_dir() {
    local dir
    dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1 || true)"
    [ -n "$dir" ] && [ -x "$dir/postgres" ] && echo "$dir"
}

pg_install() {
    if [ -z "$(pg_bin_dir)" ]; then
        log "PostgreSQL is not installed: apt-get install postgresql"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        [ -n "$(pg_bin_dir)" ] || die "postgresql installed but no /usr/lib/postgresql/*/bin/postgres"
    fi
    PG_BIN="$(pg_bin_dir)"
}

# Run a PostgreSQL server program as the postgres OS user (postgres refuses to run as root).
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

pg_ready() {
    "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PGPORT" -t 2 >/dev/null 2>&1
}

# The base folder of our cluster: var/pg when the postgres OS user can use it, else a folder
# under /tmp named after the repository path.
pg_choose_base() {
    local base="$VAR/pg"
    mkdir -p "$base"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$base"
        chmod 700 "$base"
        if ! runuser -u postgres -- test -w "$base" -a -x "$base" 2>/dev/null; then
            local sum
            # named after the repository (default pair) or the var folder (SERVICES_VAR_DIR)
            if [ "$VAR" = "$ROOT/var" ]; then
                sum="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
            else
                sum="$(printf '%s' "$VAR" | cksum | cut -d' ' -f1)"
            fi
            base="/tmp/pr-services-$sum/pg"
            log "postgres OS user cannot reach $VAR/pg; using $base"
            mkdir -p "$base"
            chmod 755 "/tmp/pr-services-$sum"
            chown postgres:postgres "$base"
            chmod 700 "$base"
        fi
    fi
    echo "$base"
}

pg_data_dir() {
    # The data directory `up` chose, if any.
    if [ -f "$PG_LOCATION_FILE" ]; then cat "$PG_LOCATION_FILE"; fi
}

pg_up() {
    pg_install
    if pg_ready; then
        log "PostgreSQL already answers on $PG_HOST:$PGPORT: reusing it"
    else
        local base data
        base="$(pg_choose_base)"
        data="$base/data"
        if [ ! -f "$data/PG_VERSION" ]; then
            log "initdb $data"
            as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
                >"$base/initdb.log" 2>&1 || { cat "$base/initdb.log" >&2; die "initdb failed"; }
            # A throwaway test/dev cluster: TCP on loopback only (no Unix socket), no fsync.
            as_pg tee -a "$data/postgresql.conf" >/dev/null <<'EOF'

# --- scripts/services.sh (test/dev cluster) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
        fi
        echo "$data" >"$PG_LOCATION_FILE"
        log "starting PostgreSQL on $PG_HOST:$PGPORT (data $data)"
        as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$base/postgres.log" -o "-p $PGPORT" -w -t 60 start \
            >/dev/null || { tail -n 30 "$base/postgres.log" >&2 || true; die "PostgreSQL did not start"; }
        local _
        for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
        pg_ready || { tail -n 30 "$base/postgres.log" >&2 || true; die "PostgreSQL not ready"; }
    fi
    pg_bootstrap
}

pg_psql() {
    PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PGPORT" "$@"
}

# Role and databases, created when absent.
pg_bootstrap() {
    local user="" candidate
    for candidate in "${PG_SUPERUSER:-postgres}" "$PG_ROLE"; do
        if PGPASSWORD="$PG_PASSWORD" pg_psql -U "$candidate" -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
            user="$candidate"; break
        fi
    done
    [ -n "$user" ] || die "cannot connect to PostgreSQL on $PG_HOST:$PGPORT as ${PG_SUPERUSER:-postgres} or $PG_ROLE"
    local dbs
    dbs="$(printf "'%s'," "${PG_DATABASES[@]}")"
    dbs="${dbs%,}"
    PGPASSWORD="$PG_PASSWORD" pg_psql -U "$user" -d postgres <<EOF >/dev/null
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SELECT format('CREATE DATABASE %I OWNER $PG_ROLE', d)
  FROM unnest(ARRAY[$dbs]) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d)
\gexec
EOF
    log "PostgreSQL ready: role $PG_ROLE, databases ${PG_DATABASES[*]}"
}

pg_down() {
    local data
    data="$(pg_data_dir)"
    if [ -z "$data" ] || [ ! -f "$data/postmaster.pid" ]; then
        log "PostgreSQL: no cluster started by this script is running"
        return 0
    fi
    PG_BIN="$(pg_bin_dir)" || die "PostgreSQL binaries missing"
    log "stopping PostgreSQL (data $data)"
    as_pg "$PG_BIN/pg_ctl" -D "$data" stop -m fast -w -t 60 >/dev/null
}

pg_status() {
    local bin
    bin="$(pg_bin_dir || true)"
    if [ -n "$bin" ] && "$bin/pg_isready" -q -h "$PG_HOST" -p "$PGPORT" -t 2 >/dev/null 2>&1; then
        local data
        data="$(pg_data_dir)"
        if [ -n "$data" ] && [ -f "$data/postmaster.pid" ]; then
            echo "postgresql: up on $PG_HOST:$PGPORT (data $data)"
        else
            echo "postgresql: up on $PG_HOST:$PGPORT (not started by this script)"
        fi
        return 0
    fi
    echo "postgresql: down ($PG_HOST:$PGPORT)"
    return 1
}

# ---------------------------------------------------------------------------------- Kafka --
java_tools() {
    if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
        log "java/mvn missing: apt-get install openjdk-17-jre-headless maven"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
    fi
}

kafka_fetch_jars() {
    if [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then
        return 0
    fi
    [ "$KAFKA_LIBS" = "$KAFKA_DIR/libs" ] \
        || die "KAFKA_LIBS=$KAFKA_LIBS has no kafka_2.13-$KAFKA_VERSION.jar"
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
    local tmp="$KAFKA_LIBS.tmp"
    rm -rf "$tmp"
    # shellcheck disable=SC2086  # MVN_ARGS is a list of words
    if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
            -DoutputDirectory="$tmp" -DincludeScope=runtime ${MVN_ARGS:-} >"$KAFKA_DIR/mvn.log" 2>&1; then
        cat "$KAFKA_DIR/mvn.log" >&2
        die "mvn could not fetch the Kafka jars (log: var/kafka/mvn.log)"
    fi
    [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
}

kafka_java() {
    # java with the broker classpath and our Log4j 2 config; extra JVM options first.
    java -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
        -Dkafka.logs.dir="$KAFKA_LOGS" -cp "$KAFKA_LIBS/*" "$@"
}

kafka_render_props() {
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@KAFKA_DATA_DIR@|$KAFKA_DATA|g" \
        "$ROOT/tools/kafka/server.properties.template" >"$KAFKA_PROPS.tmp"
    mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
}

kafka_format() {
    if [ ! -s "$KAFKA_CLUSTER_ID_FILE" ]; then
        local id
        id="$(kafka_java -Xmx256m kafka.tools.StorageTool random-uuid | tail -n 1 | tr -d '[:space:]')"
        [[ "$id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid gave '$id'"
        echo "$id" >"$KAFKA_CLUSTER_ID_FILE"
    fi
    if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
        log "formatting Kafka storage $KAFKA_DATA (cluster $(cat "$KAFKA_CLUSTER_ID_FILE"))"
        kafka_java -Xmx256m kafka.tools.StorageTool format --standalone \
            -t "$(cat "$KAFKA_CLUSTER_ID_FILE")" -c "$KAFKA_PROPS" --ignore-formatted >/dev/null \
            || die "kafka StorageTool format failed"
    fi
}

# PID from the pid file when that process is alive and is our broker.
kafka_pid() {
    [ -f "$KAFKA_PIDFILE" ] || return 1
    local pid
    pid="$(cat "$KAFKA_PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
    echo "$pid"
}

kafka_log_tail() {
    local f
    for f in "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"; do
        if [ -f "$f" ]; then
            printf -- '----- tail of %s -----\n' "$f" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

kafka_wait() {
    local pid="${1:-}" py
    py="$(python_bin)"
    local args=(--bootstrap "$KAFKA_HOST:$KAFKA_PORT" --timeout "$KAFKA_WAIT_SECONDS")
    [ -n "$pid" ] && args+=(--pid "$pid")
    if "$py" -c 'import kafka' 2>/dev/null; then
        if ! "$py" "$ROOT/scripts/wait_for_kafka.py" "${args[@]}" >&2; then
            kafka_log_tail
            die "Kafka is not ready on $KAFKA_HOST:$KAFKA_PORT (see var/kafka/logs)"
        fi
    else
        log "WARNING: $py has no kafka-python; only waiting for the port to open"
        local end=$((SECONDS + KAFKA_WAIT_SECONDS))
        until port_open "$KAFKA_HOST" "$KAFKA_PORT"; do
            if [ "$SECONDS" -ge "$end" ] || { [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; }; then
                kafka_log_tail
                die "Kafka is not ready on $KAFKA_HOST:$KAFKA_PORT"
            fi
            sleep 1
        done
    fi
}

kafka_up() {
    local pid
    if pid="$(kafka_pid)"; then
        log "Kafka already started by this script (pid $pid): waiting until ready"
        kafka_wait "$pid"
        return 0
    fi
    if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
        log "something already answers on $KAFKA_HOST:$KAFKA_PORT: reusing it"
        kafka_wait
        return 0
    fi
    java_tools
    mkdir -p "$KAFKA_DIR" "$KAFKA_DATA" "$KAFKA_LOGS"
    kafka_fetch_jars
    kafka_render_props
    kafka_format
    log "starting Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
    # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of words
    (
        cd "$KAFKA_DIR"
        nohup java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
            -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
            -Dkafka.logs.dir="$KAFKA_LOGS" -cp "$KAFKA_LIBS/*" \
            kafka.Kafka "$KAFKA_PROPS" >>"$KAFKA_LOGS/kafka.out" 2>&1 </dev/null &
        echo $! >"$KAFKA_PIDFILE"
    )
    kafka_wait "$(cat "$KAFKA_PIDFILE")"
}

kafka_down() {
    local pid
    if ! pid="$(kafka_pid)"; then
        log "Kafka: no broker started by this script is running"
        rm -f "$KAFKA_PIDFILE"
        return 0
    fi
    log "stopping Kafka (SIGTERM to pid $pid)"
    kill -TERM "$pid"
    local end=$((SECONDS + KAFKA_STOP_SECONDS))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$end" ]; then
            log "Kafka pid $pid still running after ${KAFKA_STOP_SECONDS}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.5
    done
    rm -f "$KAFKA_PIDFILE"
}

kafka_status() {
    local pid
    if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
        if pid="$(kafka_pid)"; then
            echo "kafka: up on $KAFKA_HOST:$KAFKA_PORT (pid $pid, data $KAFKA_DATA)"
        else
            echo "kafka: up on $KAFKA_HOST:$KAFKA_PORT (not started by this script)"
        fi
        return 0
    fi
    if pid="$(kafka_pid)"; then
        echo "kafka: starting or stuck (pid $pid, port $KAFKA_PORT not open)"
    else
        echo "kafka: down ($KAFKA_HOST:$KAFKA_PORT)"
    fi
    return 1
}

# ------------------------------------------------------------------------------------ env --
env_lines() {
    local base="postgresql+psycopg://$PG_ROLE:$PG_PASSWORD@$PG_HOST:$PGPORT"
    cat <<EOF
export REGISTRY_DATABASE_URL=$base/pr_registry
export NOTIFIER_DATABASE_URL=$base/pr_notifier
export REPORTING_DATABASE_URL=$base/pr_reporting
export KAFKA_BOOTSTRAP_SERVERS=$KAFKA_HOST:$KAFKA_PORT
export TEST_PG_ADMIN_URL=$base/postgres
export TEST_KAFKA_BOOTSTRAP_SERVERS=$KAFKA_HOST:$KAFKA_PORT
EOF
}

cmd_up() {
    mkdir -p "$VAR"
    local t0=$SECONDS
    pg_up
    kafka_up
    env_lines >"$ENV_FILE"
    log "services up in $((SECONDS - t0))s; environment (also in var/services.env):"
    env_lines
}

cmd_down() {
    kafka_down
    pg_down
}

cmd_status() {
    local rc=0
    pg_status || rc=1
    kafka_status || rc=1
    return "$rc"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) env_lines ;;
    *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
