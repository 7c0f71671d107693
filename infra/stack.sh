#!/usr/bin/env bash
# The real test stack for CI and developers: Apache Kafka 4.x (KRaft, one node) from its Maven
# Central jars, Debian's redis-server (one node + a 3-master cluster) and Debian's
# clickhouse-server, each as an ordinary process under $CHIMERA_STACK_DIR.
#
#   bash infra/stack.sh install   # apt packages + Kafka jars (idempotent; needs root for apt)
#   bash infra/stack.sh up        # start everything, wait until each answers
#   bash infra/stack.sh status
#   bash infra/stack.sh down      # stop everything started by `up`
#
# Ports (the defaults of tests/conftest.py): Kafka 19092 (controller 19093), Redis 16379,
# cluster 17001-17003, ClickHouse native 19000 / HTTP 18123.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
dir=${CHIMERA_STACK_DIR:-$root/.chimera-ci}
jars=${CHIMERA_KAFKA_JARS:-$HOME/.cache/chimera/kafka-jars}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
REDIS_PORT=${REDIS_PORT:-16379}
CLUSTER_PORTS=(17001 17002 17003)
CH_TCP_PORT=${CH_TCP_PORT:-19000}
CH_HTTP_PORT=${CH_HTTP_PORT:-18123}

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

wait_port() { # name port seconds
  local name=$1 port=$2 secs=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$name did not open port $port within ${secs}s (logs in $dir)"
}

install() {
  local need=()
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v clickhouse-server >/dev/null || need+=(clickhouse-server clickhouse-client)
  command -v docker-compose >/dev/null || need+=(docker-compose)  # validates docker-compose.yml
  if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if [ ! -f "$jars/.complete" ]; then
    log "fetching Apache Kafka jars with Maven into $jars"
    mkdir -p "$jars"
    mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$jars"
    touch "$jars/.complete"
  fi
}

start_kafka() {
  local kd=$dir/kafka
  mkdir -p "$kd"
  cat >"$kd/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$kd/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
  cat >"$kd/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$kd/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
EOF
  local cp="$jars/*"
  local jopts=(-Xms256m -Xmx1g -Dlog4j2.configurationFile="$kd/log4j2.properties" -Dlog4j.configuration="file:$kd/log4j2.properties")
  if [ ! -f "$kd/data/meta.properties" ]; then
    local cid
    cid=$(java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$cid" -c "$kd/server.properties" >"$kd/format.log" 2>&1 \
      || die "Kafka storage format failed: $(cat "$kd/format.log")"
  fi
  nohup java "${jopts[@]}" -cp "$cp" kafka.Kafka "$kd/server.properties" >"$kd/stdout.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
}

start_redis() { # name port extra-args...
  local name=$1 port=$2
  shift 2
  mkdir -p "$dir/$name"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$name" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/$name.pid" --logfile "$dir/$name/redis.log" "$@"
}

start_cluster() {
  local p
  for p in "${CLUSTER_PORTS[@]}"; do
    rm -f "$dir/cluster-$p/nodes.conf"
    start_redis "cluster-$p" "$p" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
  done
  for p in "${CLUSTER_PORTS[@]}"; do wait_port "redis cluster node" "$p" 20; done
  local seeds=()
  for p in "${CLUSTER_PORTS[@]}"; do seeds+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes >"$dir/cluster-create.log" 2>&1 \
    || die "redis cluster create failed: $(cat "$dir/cluster-create.log")"
  local i
  for ((i = 0; i < 100; i++)); do
    redis-cli -p "${CLUSTER_PORTS[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && return 0
    sleep 0.1
  done
  die "redis cluster did not reach cluster_state:ok"
}

start_clickhouse() {
  local cd=$dir/clickhouse
  mkdir -p "$cd/data" "$cd/tmp" "$cd/uf"
  # the packaged config.xml: only ports and paths are overridden, as an ordinary process
  nohup clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
    --tcp_port="$CH_TCP_PORT" --http_port="$CH_HTTP_PORT" --listen_host=127.0.0.1 \
    --path="$cd/data/" --tmp_path="$cd/tmp/" --user_files_path="$cd/uf/" \
    --logger.log="$cd/ch.log" --logger.errorlog="$cd/err.log" --pid="" >"$cd/stdout.log" 2>&1 &
  echo $! >"$dir/clickhouse.pid"
}

up() {
  command -v redis-server >/dev/null && command -v clickhouse-server >/dev/null && [ -f "$jars/.complete" ] \
    || install
  mkdir -p "$dir"
  if status >/dev/null 2>&1; then log "already up"; return 0; fi
  down >/dev/null 2>&1 || true
  start_kafka
  start_redis redis "$REDIS_PORT"
  start_cluster
  start_clickhouse
  wait_port "redis-server" "$REDIS_PORT" 20
  wait_port "clickhouse-server" "$CH_TCP_PORT" 60
  wait_port "Apache Kafka" "$KAFKA_PORT" 90
  wait_kafka_ready
  log "up: kafka 127.0.0.1:$KAFKA_PORT, redis :$REDIS_PORT, cluster :${CLUSTER_PORTS[*]}, clickhouse :$CH_TCP_PORT"
}

wait_kafka_ready() {
  # the port opens before the broker has joined its own KRaft quorum; wait for real metadata
  local py=${PYTHON:-$root/.venv/bin/python}
  [ -x "$py" ] || py=python3
  "$py" - "$KAFKA_PORT" <<'EOF' || die "Kafka answered no metadata (see $dir/kafka/server.log)"
import sys, time
try:
    from confluent_kafka.admin import AdminClient
except ImportError:
    sys.exit(0)
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{sys.argv[1]}"})
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    try:
        if admin.list_topics(timeout=2).brokers:
            sys.exit(0)
    except Exception:
        time.sleep(0.3)
sys.exit(1)
EOF
}

kill_pidfile() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  local f
  for f in "$dir"/*.pid; do [ -e "$f" ] && kill_pidfile "$f"; done
  log "down"
}

status() {
  local ok=0 name port
  for pair in "kafka:$KAFKA_PORT" "redis:$REDIS_PORT" "cluster:${CLUSTER_PORTS[0]}" "clickhouse:$CH_TCP_PORT"; do
    name=${pair%%:*} port=${pair##*:}
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$name up (:$port)"; else echo "$name DOWN (:$port)"; ok=1; fi
  done
  return $ok
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 install|up|status|down" >&2; exit 2 ;;
esac
