#!/usr/bin/env bash
# deploy/local/stack.sh — the local facturier stack without Docker: PostgreSQL + Apache Kafka.
#
# Usage: deploy/local/stack.sh COMMAND
#   up          start PostgreSQL and Kafka (installs/downloads what is missing), wait until
#               both really answer; idempotent: a second `up` only re-checks (a few seconds)
#   down        stop Kafka (SIGTERM, then SIGKILL after a timeout) and the PostgreSQL cluster
#   status      one line per component; exit 0 if all are up, 1 otherwise
#   pg-up | pg-down | kafka-up | kafka-down     one component only
#   env         print `export ...` lines for clients (eval "$(deploy/local/stack.sh env)")
#   kafka-tool NAME|CLASS [ARGS...]
#               run a Kafka CLI tool from the downloaded jars, e.g.
#                 stack.sh kafka-tool topics --bootstrap-server 127.0.0.1:9092 --list
#               NAME: topics, console-producer, console-consumer, consumer-groups,
#                     get-offsets, api-versions, metadata-quorum, storage
#
# Environment (all optional):
#   FACTURIER_DATA_DIR          <repo>/.data  all state of this script: kafka/libs (jars),
#                                             kafka/data (Kafka log dirs), kafka/server.properties,
#                                             kafka/cluster.id, logs/, run/ (pid + lock files).
#                                             PostgreSQL data stays in the Debian cluster
#                                             (/var/lib/postgresql/<ver>/<cluster>).
#   FACTURIER_PG_HOST           127.0.0.1     address clients use (the server listens on localhost)
#   FACTURIER_PG_PORT           5432          port of the PostgreSQL cluster (set in its config)
#   FACTURIER_PG_USER           facturier     role created with LOGIN CREATEDB
#   FACTURIER_PG_PASSWORD       facturier     its password (reset on every `up`)
#   FACTURIER_PG_DB             facturier     database owned by that role
#   FACTURIER_PG_VERSION        (newest)      PostgreSQL major version under /usr/lib/postgresql
#   FACTURIER_PG_CLUSTER        main          Debian cluster name (pg_lsclusters)
#   FACTURIER_PG_START_TIMEOUT  60            seconds to wait for PostgreSQL to accept connections
#   FACTURIER_PG_MAX_CONNECTIONS 300          PostgreSQL max_connections (every service process keeps a few)
#   FACTURIER_KAFKA_VERSION     4.1.1         org.apache.kafka:kafka_2.13 version from Maven Central
#   FACTURIER_KAFKA_HOST        127.0.0.1     broker/controller listen + advertised address
#   FACTURIER_KAFKA_PORT        9092          client (PLAINTEXT) port
#   FACTURIER_KAFKA_CONTROLLER_PORT 9093      KRaft controller port
#   FACTURIER_KAFKA_HEAP_OPTS   -Xms256m -Xmx512m   broker JVM heap
#   FACTURIER_KAFKA_START_TIMEOUT 90          seconds to wait for the broker to answer
#   FACTURIER_KAFKA_STOP_TIMEOUT  60          seconds between SIGTERM and SIGKILL on `down`
#   FACTURIER_JAVA              $JAVA_HOME/bin/java or `java`   Java 17+ used for Kafka
#   FACTURIER_MVN               mvn           Maven used to fetch the Kafka jars
#
# Requirements: bash, Java 17+, Maven (first Kafka download only, ~55 MB of jars), and either
# PostgreSQL server packages or root + apt-get (installs the `postgresql` package).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
KAFKA_DEPLOY_DIR=$REPO_ROOT/deploy/kafka

FACTURIER_DATA_DIR=${FACTURIER_DATA_DIR:-$REPO_ROOT/.data}
FACTURIER_PG_HOST=${FACTURIER_PG_HOST:-127.0.0.1}
FACTURIER_PG_PORT=${FACTURIER_PG_PORT:-5432}
FACTURIER_PG_USER=${FACTURIER_PG_USER:-facturier}
FACTURIER_PG_PASSWORD=${FACTURIER_PG_PASSWORD:-facturier}
FACTURIER_PG_DB=${FACTURIER_PG_DB:-facturier}
FACTURIER_PG_VERSION=${FACTURIER_PG_VERSION:-}
FACTURIER_PG_CLUSTER=${FACTURIER_PG_CLUSTER:-main}
FACTURIER_PG_START_TIMEOUT=${FACTURIER_PG_START_TIMEOUT:-60}
FACTURIER_PG_MAX_CONNECTIONS=${FACTURIER_PG_MAX_CONNECTIONS:-300}
FACTURIER_KAFKA_VERSION=${FACTURIER_KAFKA_VERSION:-4.1.1}
FACTURIER_KAFKA_HOST=${FACTURIER_KAFKA_HOST:-127.0.0.1}
FACTURIER_KAFKA_PORT=${FACTURIER_KAFKA_PORT:-9092}
FACTURIER_KAFKA_CONTROLLER_PORT=${FACTURIER_KAFKA_CONTROLLER_PORT:-9093}
FACTURIER_KAFKA_HEAP_OPTS=${FACTURIER_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
FACTURIER_KAFKA_START_TIMEOUT=${FACTURIER_KAFKA_START_TIMEOUT:-90}
FACTURIER_KAFKA_STOP_TIMEOUT=${FACTURIER_KAFKA_STOP_TIMEOUT:-60}
if [[ -z "${FACTURIER_JAVA:-}" ]]; then
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    FACTURIER_JAVA=$JAVA_HOME/bin/java
  else
    FACTURIER_JAVA=java
  fi
fi
FACTURIER_MVN=${FACTURIER_MVN:-mvn}

mkdir -p "$FACTURIER_DATA_DIR"
DATA_DIR=$(cd "$FACTURIER_DATA_DIR" && pwd)
KAFKA_HOME=$DATA_DIR/kafka
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_DATA=$KAFKA_HOME/data
KAFKA_PROPS=$KAFKA_HOME/server.properties
KAFKA_CLIENT_PROPS=$KAFKA_HOME/tools-client.properties
KAFKA_CLUSTER_ID_FILE=$KAFKA_HOME/cluster.id
KAFKA_LIBS_MARKER=$KAFKA_LIBS/.facturier-kafka-fetched
LOG_DIR=$DATA_DIR/logs
RUN_DIR=$DATA_DIR/run
KAFKA_PID_FILE=$RUN_DIR/kafka.pid
KAFKA_BOOTSTRAP=$FACTURIER_KAFKA_HOST:$FACTURIER_KAFKA_PORT

# Class names checked with `jar tf` against kafka_2.13 / kafka-tools 4.1.1.
KAFKA_MAIN_CLASS=kafka.Kafka
KAFKA_STORAGE_TOOL=kafka.tools.StorageTool
KAFKA_TOPIC_COMMAND=org.apache.kafka.tools.TopicCommand
KAFKA_GROUP_COMMAND=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand

# Broker JVM flags (as in Kafka's kafka-run-class.sh / kafka-server-start.sh).
KAFKA_JVM_OPTS=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true)
# Short-lived CLI tools: start fast, small heap, quiet logging.
TOOL_JVM_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$KAFKA_DEPLOY_DIR/log4j2-tools.xml")

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

ensure_dirs() { mkdir -p "$KAFKA_HOME" "$KAFKA_DATA" "$LOG_DIR" "$RUN_DIR"; }

# Serialise up/down between concurrent callers (two terminals, CI steps...): re-run this
# script under `flock -o`, which holds the lock itself and does not hand the locked file
# descriptor down to the daemons started here (Kafka, postgres would otherwise keep it).
take_lock() {
  [[ -n "${_FACTURIER_STACK_LOCKED:-}" ]] && return 0
  ensure_dirs
  command -v flock >/dev/null || die "flock (util-linux) not found"
  export _FACTURIER_STACK_LOCKED=1
  exec flock -o -w 600 -E 75 "$RUN_DIR/stack.lock" \
    "$BASH" "${BASH_SOURCE[0]}" "$@"
}

# True if something accepts TCP connections on host:port (bash builtin, no nc needed).
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ----------------------------------------------------------------------------- PostgreSQL

pg_version() {
  if [[ -n "$FACTURIER_PG_VERSION" ]]; then
    [[ -x /usr/lib/postgresql/$FACTURIER_PG_VERSION/bin/postgres ]] && echo "$FACTURIER_PG_VERSION"
    return 0
  fi
  local bin
  bin=$(ls -1 /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$bin" ]] && basename "$(dirname "$(dirname "$bin")")"
  return 0
}

pg_install() {
  command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL server binaries are missing (/usr/lib/postgresql/*/bin/postgres) and apt-get is not available: install PostgreSQL server packages by hand"
  [[ $(id -u) -eq 0 ]] \
    || die "PostgreSQL server binaries are missing: run as root, or first: sudo apt-get update && sudo apt-get install -y postgresql"
  log "installing PostgreSQL (apt-get install -y postgresql) ..."
  local out=$LOG_DIR/apt-postgresql.log
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } >"$out" 2>&1; then
    tail -n 30 "$out" >&2
    die "apt-get install postgresql failed (full log: $out)"
  fi
}

# Prints the status column of pg_lsclusters ("online", "down", ...), or nothing if no cluster.
pg_cluster_status() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$FACTURIER_PG_CLUSTER" '$1==v && $2==c {print $4}'
}

# Runs psql as the postgres superuser over the local socket.
pg_admin_psql() {
  if [[ $(id -un) == postgres ]]; then
    (cd / && psql -X -q -v ON_ERROR_STOP=1 -p "$FACTURIER_PG_PORT" -d postgres "$@")
  elif [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$FACTURIER_PG_PORT" -d postgres "$@")
  else
    return 99
  fi
}

pg_dsn_query() {
  PGPASSWORD=$FACTURIER_PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -At -w \
    -h "$FACTURIER_PG_HOST" -p "$FACTURIER_PG_PORT" -U "$FACTURIER_PG_USER" -d "$FACTURIER_PG_DB" \
    -c "$1"
}

pg_up() {
  ensure_dirs
  local ver
  ver=$(pg_version)
  if [[ -z "$ver" ]]; then
    pg_install
    ver=$(pg_version)
    [[ -n "$ver" ]] || die "PostgreSQL still missing after apt-get install (no /usr/lib/postgresql/*/bin/postgres)"
  fi
  command -v pg_lsclusters >/dev/null || die "pg_lsclusters not found (Debian postgresql-common missing)"
  local cluster=$FACTURIER_PG_CLUSTER conf_dir=/etc/postgresql/$ver/$FACTURIER_PG_CLUSTER
  local status need_restart=0
  status=$(pg_cluster_status "$ver")
  if [[ -z "$status" ]]; then
    [[ $(id -u) -eq 0 ]] || die "no PostgreSQL cluster $ver/$cluster and not root: run pg_createcluster $ver $cluster as root"
    log "creating PostgreSQL cluster $ver/$cluster (port $FACTURIER_PG_PORT)"
    pg_createcluster --port "$FACTURIER_PG_PORT" "$ver" "$cluster" >"$LOG_DIR/pg_createcluster.log" 2>&1 \
      || { cat "$LOG_DIR/pg_createcluster.log" >&2; die "pg_createcluster failed"; }
    status=$(pg_cluster_status "$ver")
  fi

  # Port and listen address, in the cluster's own config (Debian: /etc/postgresql/<ver>/<name>).
  local port listen
  port=$(pg_conftool -s "$ver" "$cluster" show port 2>/dev/null || echo 5432)
  if [[ "$port" != "$FACTURIER_PG_PORT" ]]; then
    log "setting port=$FACTURIER_PG_PORT in $conf_dir/postgresql.conf (was $port)"
    pg_conftool "$ver" "$cluster" set port "$FACTURIER_PG_PORT"
    need_restart=1
  fi
  local max_connections
  max_connections=$(pg_conftool -s "$ver" "$cluster" show max_connections 2>/dev/null || echo 100)
  if [[ "$max_connections" != "$FACTURIER_PG_MAX_CONNECTIONS" ]]; then
    # Every service process keeps a few connections; tests run several stacks' worth at once.
    log "setting max_connections=$FACTURIER_PG_MAX_CONNECTIONS (was $max_connections)"
    pg_conftool "$ver" "$cluster" set max_connections "$FACTURIER_PG_MAX_CONNECTIONS"
    need_restart=1
  fi
  listen=$(pg_conftool -s "$ver" "$cluster" show listen_addresses 2>/dev/null || echo localhost)
  listen=${listen//\'/}
  if [[ ! "$listen" =~ (^|,)[[:space:]]*(localhost|127\.0\.0\.1|\*|0\.0\.0\.0)[[:space:]]*(,|$) ]]; then
    log "setting listen_addresses='localhost' (was '$listen')"
    pg_conftool "$ver" "$cluster" set listen_addresses localhost
    need_restart=1
  fi
  # Password auth over TCP on loopback (Debian's default pg_hba has it; add it if not).
  local hba=$conf_dir/pg_hba.conf
  if [[ -f "$hba" ]] && ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+(scram-sha-256|md5)' "$hba" \
     && ! grep -q 'facturier stack.sh' "$hba"; then
    log "adding a scram-sha-256 rule for 127.0.0.1 to $hba"
    sed -i "1i host all all 127.0.0.1/32 scram-sha-256  # facturier stack.sh" "$hba"
    [[ "$status" == online* ]] && pg_ctlcluster "$ver" "$cluster" reload
  fi

  if [[ "$status" == online* ]]; then
    if (( need_restart )); then
      log "restarting PostgreSQL $ver/$cluster"
      pg_ctlcluster "$ver" "$cluster" restart
    fi
  else
    log "starting PostgreSQL $ver/$cluster"
    pg_ctlcluster "$ver" "$cluster" start \
      || { tail -n 20 "/var/log/postgresql/postgresql-$ver-$cluster.log" >&2 || true; die "pg_ctlcluster $ver $cluster start failed"; }
  fi

  local deadline=$((SECONDS + FACTURIER_PG_START_TIMEOUT))
  until pg_isready -q -h "$FACTURIER_PG_HOST" -p "$FACTURIER_PG_PORT" -t 2; do
    if (( SECONDS >= deadline )); then
      tail -n 20 "/var/log/postgresql/postgresql-$ver-$cluster.log" >&2 || true
      die "PostgreSQL not accepting connections on $FACTURIER_PG_HOST:$FACTURIER_PG_PORT after ${FACTURIER_PG_START_TIMEOUT}s"
    fi
    sleep 0.5
  done

  # Role and database, idempotently (password and attributes are re-applied every time).
  local rc=0
  pg_admin_psql -v user="$FACTURIER_PG_USER" -v pw="$FACTURIER_PG_PASSWORD" -v db="$FACTURIER_PG_DB" \
    >"$LOG_DIR/pg-bootstrap.log" 2>&1 <<'SQL' || rc=$?
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'user') \gexec
SQL
  if (( rc == 99 )); then
    log "not root: cannot create role/database as the postgres user; checking the DSN as is"
  elif (( rc != 0 )); then
    cat "$LOG_DIR/pg-bootstrap.log" >&2
    die "creating role/database $FACTURIER_PG_USER/$FACTURIER_PG_DB failed"
  fi

  local out
  out=$(pg_dsn_query "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>&1) \
    || die "cannot log in: postgresql://$FACTURIER_PG_USER@$FACTURIER_PG_HOST:$FACTURIER_PG_PORT/$FACTURIER_PG_DB: $out"
  [[ "$out" == t ]] || die "role $FACTURIER_PG_USER lacks CREATEDB (got: $out)"
  log "PostgreSQL $ver/$cluster ready: postgresql://$FACTURIER_PG_USER@$FACTURIER_PG_HOST:$FACTURIER_PG_PORT/$FACTURIER_PG_DB"
}

pg_down() {
  local ver status
  ver=$(pg_version)
  if [[ -z "$ver" ]] || ! command -v pg_lsclusters >/dev/null; then
    log "PostgreSQL not installed"; return 0
  fi
  status=$(pg_cluster_status "$ver")
  if [[ "$status" == online* ]]; then
    log "stopping PostgreSQL $ver/$FACTURIER_PG_CLUSTER"
    pg_ctlcluster "$ver" "$FACTURIER_PG_CLUSTER" stop -m fast
  else
    log "PostgreSQL $ver/$FACTURIER_PG_CLUSTER already stopped"
  fi
}

pg_status_line() {
  local ver status
  ver=$(pg_version)
  if [[ -z "$ver" ]]; then
    printf '%-11s %-8s %s\n' postgresql stopped "(not installed)"; return 1
  fi
  status=$(pg_cluster_status "$ver")
  if pg_isready -q -h "$FACTURIER_PG_HOST" -p "$FACTURIER_PG_PORT" -t 2 \
     && [[ "$(pg_dsn_query 'SELECT 1' 2>/dev/null)" == 1 ]]; then
    printf '%-11s %-8s %s\n' postgresql running \
      "$FACTURIER_PG_HOST:$FACTURIER_PG_PORT db=$FACTURIER_PG_DB user=$FACTURIER_PG_USER (cluster $ver/$FACTURIER_PG_CLUSTER)"
    return 0
  fi
  printf '%-11s %-8s %s\n' postgresql stopped \
    "$FACTURIER_PG_HOST:$FACTURIER_PG_PORT (cluster $ver/$FACTURIER_PG_CLUSTER: ${status:-absent}; DSN login fails)"
  return 1
}

# ----------------------------------------------------------------------------- Kafka

check_java() {
  command -v "$FACTURIER_JAVA" >/dev/null 2>&1 \
    || die "java not found ($FACTURIER_JAVA): Kafka needs Java 17+ (Debian: apt-get install -y openjdk-17-jre-headless)"
  local v major
  v=$("$FACTURIER_JAVA" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  major=${v%%.*}
  [[ "$major" == 1 ]] && major=$(echo "$v" | cut -d. -f2)
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the Java version from '$FACTURIER_JAVA -version'"
  (( major >= 17 )) || die "Java $v found ($FACTURIER_JAVA): Kafka $FACTURIER_KAFKA_VERSION needs Java 17+ (set FACTURIER_JAVA or JAVA_HOME)"
}

kafka_marker_value() {
  echo "kafka=$FACTURIER_KAFKA_VERSION pom=$(sha256sum "$KAFKA_DEPLOY_DIR/pom.xml" | cut -c1-16)"
}

kafka_fetch() {
  local want
  want=$(kafka_marker_value)
  if [[ -f "$KAFKA_LIBS_MARKER" && "$(cat "$KAFKA_LIBS_MARKER")" == "$want" \
        && -f "$KAFKA_LIBS/kafka_2.13-$FACTURIER_KAFKA_VERSION.jar" ]]; then
    return 0
  fi
  command -v "$FACTURIER_MVN" >/dev/null 2>&1 \
    || die "Maven ($FACTURIER_MVN) not found: needed once to fetch Kafka $FACTURIER_KAFKA_VERSION from Maven Central (Debian: apt-get install -y maven)"
  log "fetching Kafka $FACTURIER_KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS (first time: ~55 MB) ..."
  local tmp=$KAFKA_HOME/libs.tmp out=$LOG_DIR/kafka-fetch.log
  rm -rf "$tmp"
  if ! "$FACTURIER_MVN" -q -B -f "$KAFKA_DEPLOY_DIR/pom.xml" -Dkafka.version="$FACTURIER_KAFKA_VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    die "mvn dependency:copy-dependencies failed for Kafka $FACTURIER_KAFKA_VERSION (full log: $out)"
  fi
  [[ -f "$tmp/kafka_2.13-$FACTURIER_KAFKA_VERSION.jar" ]] \
    || die "kafka_2.13-$FACTURIER_KAFKA_VERSION.jar missing after the Maven download (log: $out)"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  echo "$want" >"$KAFKA_LIBS_MARKER"
  log "Kafka jars ready ($(ls "$KAFKA_LIBS"/*.jar | wc -l) jars)"
}

# Runs a Kafka CLI class from the jars with quiet logging.
kafka_java_tool() {
  local cls=$1; shift
  (cd "$KAFKA_HOME" && "$FACTURIER_JAVA" "${TOOL_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$cls" "$@")
}

kafka_write_config() {
  local tmp=$KAFKA_PROPS.tmp
  sed -e "s|@KAFKA_HOST@|$FACTURIER_KAFKA_HOST|g" \
      -e "s|@KAFKA_PORT@|$FACTURIER_KAFKA_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$FACTURIER_KAFKA_CONTROLLER_PORT|g" \
      -e "s|@LOG_DIRS@|$KAFKA_DATA|g" \
      "$KAFKA_DEPLOY_DIR/server.properties.template" >"$tmp"
  mv "$tmp" "$KAFKA_PROPS"
  # Admin-client settings for the readiness check: fail fast instead of retrying for 60 s.
  cat >"$KAFKA_CLIENT_PROPS" <<EOF
request.timeout.ms=5000
default.api.timeout.ms=8000
socket.connection.setup.timeout.ms=2000
socket.connection.setup.timeout.max.ms=3000
EOF
}

kafka_format() {
  local cid
  if [[ -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
    cid=$(cat "$KAFKA_CLUSTER_ID_FILE")
  elif [[ -f "$KAFKA_DATA/meta.properties" ]]; then
    cid=$(sed -n 's/^cluster\.id=//p' "$KAFKA_DATA/meta.properties")
    echo "$cid" >"$KAFKA_CLUSTER_ID_FILE"
  else
    cid=$(kafka_java_tool "$KAFKA_STORAGE_TOOL" random-uuid | tail -n 1)
    [[ "$cid" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid gave '$cid'"
    echo "$cid" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
    log "formatting Kafka storage (cluster id $cid) in $KAFKA_DATA"
    kafka_java_tool "$KAFKA_STORAGE_TOOL" format --standalone -t "$cid" -c "$KAFKA_PROPS" --ignore-formatted \
      >"$LOG_DIR/kafka-format.log" 2>&1 \
      || { cat "$LOG_DIR/kafka-format.log" >&2; die "kafka storage format failed"; }
  fi
}

# Prints the broker pid if the pid file names a live kafka.Kafka process of this data dir.
kafka_pid() {
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  local pid
  pid=$(cat "$KAFKA_PID_FILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
  [[ "$cmd" == *"$KAFKA_MAIN_CLASS $KAFKA_PROPS"* ]] || return 1
  echo "$pid"
}

# The readiness check: an Admin-client metadata request (TopicCommand --list) answered by the
# broker. KRaft brokers only open their client listener once unfenced, so an answer means ready.
kafka_answers() {
  port_open "$FACTURIER_KAFKA_HOST" "$FACTURIER_KAFKA_PORT" || return 1
  timeout 30 "$FACTURIER_JAVA" "${TOOL_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$KAFKA_TOPIC_COMMAND" \
    --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$KAFKA_CLIENT_PROPS" --list
}

kafka_log_tail() {
  local f
  for f in "$LOG_DIR/kafka-stdout.log" "$LOG_DIR/kafka-server.log"; do
    [[ -f "$f" ]] || continue
    echo "----- last lines of $f" >&2
    tail -n 30 "$f" >&2
  done
}

kafka_up() {
  ensure_dirs
  check_java
  local pid
  if pid=$(kafka_pid); then
    # Never re-fetch jars under a running broker.
    if [[ "$(cat "$KAFKA_LIBS_MARKER" 2>/dev/null)" != "$(kafka_marker_value)" ]]; then
      log "WARNING: the running broker uses other jars than Kafka $FACTURIER_KAFKA_VERSION + deploy/kafka/pom.xml; run down then up to switch"
    fi
    if kafka_answers >/dev/null 2>&1; then
      log "Kafka already running (pid $pid) on $KAFKA_BOOTSTRAP"
      return 0
    fi
    log "Kafka process $pid exists but does not answer yet; waiting"
  else
    rm -f "$KAFKA_PID_FILE"
    local p
    for p in "$FACTURIER_KAFKA_PORT" "$FACTURIER_KAFKA_CONTROLLER_PORT"; do
      if port_open "$FACTURIER_KAFKA_HOST" "$p"; then
        ss -ltnp 2>/dev/null | grep -E "[:.]$p\b" >&2 || true
        die "port $FACTURIER_KAFKA_HOST:$p is already in use by a process this script did not start (pid file: $KAFKA_PID_FILE)"
      fi
    done
    kafka_fetch
    kafka_write_config
    kafka_format
    log "starting Kafka $FACTURIER_KAFKA_VERSION on $KAFKA_BOOTSTRAP (controller :$FACTURIER_KAFKA_CONTROLLER_PORT)"
    echo "===== $(date -Is) starting kafka.Kafka" >>"$LOG_DIR/kafka-stdout.log"
    # shellcheck disable=SC2086  # heap options are a word list on purpose
    (cd "$KAFKA_HOME" && exec nohup setsid "$FACTURIER_JAVA" $FACTURIER_KAFKA_HEAP_OPTS "${KAFKA_JVM_OPTS[@]}" \
        "-Dkafka.logs.dir=$LOG_DIR" "-Dlog4j2.configurationFile=$KAFKA_DEPLOY_DIR/log4j2.xml" \
        -cp "$KAFKA_LIBS/*" "$KAFKA_MAIN_CLASS" "$KAFKA_PROPS" \
        >>"$LOG_DIR/kafka-stdout.log" 2>&1 </dev/null) &
    echo $! >"$KAFKA_PID_FILE"
  fi

  local deadline=$((SECONDS + FACTURIER_KAFKA_START_TIMEOUT)) out
  while :; do
    sleep 1
    if ! pid=$(kafka_pid); then
      # setsid/nohup exec into java; give the exec chain a moment before judging.
      sleep 1
      if ! pid=$(kafka_pid); then
        kafka_log_tail
        die "the Kafka broker exited during startup (logs in $LOG_DIR)"
      fi
    fi
    if out=$(kafka_answers 2>&1); then
      break
    fi
    if (( SECONDS >= deadline )); then
      kafka_log_tail
      [[ -n "$out" ]] && printf 'last readiness check said:\n%s\n' "$out" | tail -n 10 >&2
      die "Kafka did not answer on $KAFKA_BOOTSTRAP within ${FACTURIER_KAFKA_START_TIMEOUT}s (broker pid $pid still running; logs in $LOG_DIR)"
    fi
  done
  # Prime the group coordinator (creates __consumer_offsets) so the first consumer group of a
  # test does not pay for it. Best effort.
  if [[ "$out" != *__consumer_offsets* ]]; then
    timeout 30 "$FACTURIER_JAVA" "${TOOL_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$KAFKA_GROUP_COMMAND" \
      --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$KAFKA_CLIENT_PROPS" \
      --describe --group facturier-stack-readiness >/dev/null 2>&1 || true
  fi
  log "Kafka $FACTURIER_KAFKA_VERSION ready on $KAFKA_BOOTSTRAP (pid $pid)"
}

kafka_down() {
  local pid
  if ! pid=$(kafka_pid); then
    rm -f "$KAFKA_PID_FILE"
    log "Kafka not running"
    return 0
  fi
  log "stopping Kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + FACTURIER_KAFKA_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
      log "Kafka still running after ${FACTURIER_KAFKA_STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$KAFKA_PID_FILE"
  log "Kafka stopped"
}

kafka_status_line() {
  local pid
  if pid=$(kafka_pid) && kafka_answers >/dev/null 2>&1; then
    printf '%-11s %-8s %s\n' kafka running "$KAFKA_BOOTSTRAP (pid $pid, Kafka $FACTURIER_KAFKA_VERSION, KRaft, data $KAFKA_DATA)"
    return 0
  fi
  if [[ -n "${pid:-}" ]]; then
    printf '%-11s %-8s %s\n' kafka stopped "$KAFKA_BOOTSTRAP (pid $pid alive but not answering)"
  elif port_open "$FACTURIER_KAFKA_HOST" "$FACTURIER_KAFKA_PORT"; then
    # A broker this checkout did not start (another checkout's, or a deployment's): it is
    # what the services use, so its answering is what matters.
    printf '%-11s %-8s %s\n' kafka running "$KAFKA_BOOTSTRAP (answering; not started from this checkout)"
    return 0
  else
    printf '%-11s %-8s %s\n' kafka stopped "$KAFKA_BOOTSTRAP"
  fi
  return 1
}

kafka_tool_cmd() {
  [[ $# -ge 1 ]] || die "usage: stack.sh kafka-tool NAME|CLASS [ARGS...]"
  local cls=$1; shift
  case "$cls" in
    topics) cls=$KAFKA_TOPIC_COMMAND ;;
    console-producer) cls=org.apache.kafka.tools.ConsoleProducer ;;
    console-consumer) cls=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    consumer-groups) cls=$KAFKA_GROUP_COMMAND ;;
    get-offsets) cls=org.apache.kafka.tools.GetOffsetShell ;;
    api-versions) cls=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    metadata-quorum) cls=org.apache.kafka.tools.MetadataQuorumCommand ;;
    storage) cls=$KAFKA_STORAGE_TOOL ;;
  esac
  [[ -f "$KAFKA_LIBS_MARKER" ]] || die "Kafka jars not fetched yet: run stack.sh up (or kafka-up)"
  exec "$FACTURIER_JAVA" "${TOOL_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$cls" "$@"
}

# ----------------------------------------------------------------------------- main

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case "$cmd" in
  up|down|pg-up|pg-down|kafka-up|kafka-down) take_lock "$cmd" ;;
esac
case "$cmd" in
  up)         pg_up; kafka_up ;;
  down)       kafka_down; pg_down ;;
  pg-up)      pg_up ;;
  pg-down)    pg_down ;;
  kafka-up)   kafka_up ;;
  kafka-down) kafka_down ;;
  status)
    rc=0
    pg_status_line || rc=1
    kafka_status_line || rc=1
    exit "$rc" ;;
  env)
    cat <<EOF
export FACTURIER_PG_HOST=$FACTURIER_PG_HOST
export FACTURIER_PG_PORT=$FACTURIER_PG_PORT
export FACTURIER_PG_USER=$FACTURIER_PG_USER
export FACTURIER_PG_PASSWORD=$FACTURIER_PG_PASSWORD
export FACTURIER_PG_DB=$FACTURIER_PG_DB
export FACTURIER_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP
EOF
    ;;
  kafka-tool) kafka_tool_cmd "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
