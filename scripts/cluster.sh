#!/usr/bin/env bash
# `make cluster`: three `tollgate serve` instances on one PostgreSQL database and one Redis,
# behind nginx on loopback (least connections, streaming unbuffered). Ctrl-C stops them all.
#
# Settings (the Makefile passes the first three):
#   BIN            the tollgate binary                     SITE_ROOT  the compiled console
#   LISTEN         the load balancer's address (127.0.0.1:8080)
#   DATA_DIR       a data dir per instance under it (./data/cluster)
#   CLUSTER_PORTS  the instances' loopback ports (8081 8082 8083)
#   CLUSTER_POSTGRES_URL  the server to create `tollgate_cluster` on (postgres://postgres@127.0.0.1:5432)
#   TOLLGATE_REDIS_URL    (redis://127.0.0.1:6379), TOLLGATE_REDIS_PREFIX (tollgate-cluster)
set -euo pipefail

BIN=${BIN:?the tollgate binary}
SITE_ROOT=${SITE_ROOT:?the compiled console}
LISTEN=${LISTEN:-127.0.0.1:8080}
DATA_DIR=${DATA_DIR:-./data/cluster}
read -r -a PORTS <<<"${CLUSTER_PORTS:-8081 8082 8083}"
POSTGRES=${CLUSTER_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
DATABASE=tollgate_cluster
export TOLLGATE_REDIS_URL=${TOLLGATE_REDIS_URL:-redis://127.0.0.1:6379}
export TOLLGATE_REDIS_PREFIX=${TOLLGATE_REDIS_PREFIX:-tollgate-cluster}

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-cluster.XXXXXX")
# nginx's workers (an unprivileged user when started as root) read and write below it.
chmod 755 "$run_dir"
pids=()

stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping the cluster"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "logs were in $run_dir"
}
trap stop INT TERM EXIT

if ! psql "$POSTGRES/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1; then
  echo "creating database $DATABASE"
  psql "$POSTGRES/postgres" -qc "CREATE DATABASE $DATABASE"
fi
redis-cli -u "$TOLLGATE_REDIS_URL" PING >/dev/null \
  || { echo "Redis does not answer at $TOLLGATE_REDIS_URL" >&2; exit 1; }

mkdir -p "$DATA_DIR"
# Every instance must decrypt the channel credentials the others stored: one key for all.
key_file="$DATA_DIR/credential.key"
if [ ! -s "$key_file" ]; then
  (umask 077 && head -c 32 /dev/urandom | base64 >"$key_file")
fi
TOLLGATE_CREDENTIAL_KEY=$(cat "$key_file")
export TOLLGATE_CREDENTIAL_KEY

start_instance() {
  local n=$1 port=$2
  mkdir -p "$DATA_DIR/instance-$n"
  TOLLGATE_DATABASE_URL="$POSTGRES/$DATABASE" TOLLGATE_DATA_DIR="$DATA_DIR/instance-$n" \
  TOLLGATE_LISTEN="127.0.0.1:$port" TOLLGATE_INSTANCE_ID="cluster-$n" TOLLGATE_SITE_ROOT="$SITE_ROOT" \
  TOLLGATE_SEED_DEMO=true TOLLGATE_TRUSTED_PROXIES=127.0.0.1/32 \
    "$BIN" serve >"$run_dir/instance-$n.out" 2>"$run_dir/instance-$n.log" &
  pids+=($!)
  for _ in $(seq 300); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      echo "instance $n ready on 127.0.0.1:$port"
      return
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$run_dir/instance-$n.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "instance $n did not become ready; its log:" >&2
  cat "$run_dir/instance-$n.log" >&2
  exit 1
}

# The first instance migrates and seeds before the others start.
for i in "${!PORTS[@]}"; do
  start_instance $((i + 1)) "${PORTS[$i]}"
done

servers=""
for port in "${PORTS[@]}"; do
  servers+="    server 127.0.0.1:$port max_fails=1 fail_timeout=2s;"$'\n'
done
cat >"$run_dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $run_dir/nginx.pid;
error_log $run_dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log $run_dir/nginx-access.log;
  client_body_temp_path $run_dir/client-body;
  proxy_temp_path $run_dir/proxy;
  fastcgi_temp_path $run_dir/fastcgi;
  uwsgi_temp_path $run_dir/uwsgi;
  scgi_temp_path $run_dir/scgi;
  # Tollgate bounds request bodies itself.
  client_max_body_size 0;
  upstream tollgate {
    least_conn;
$servers    keepalive 64;
  }
  server {
    listen $LISTEN;
    location / {
      proxy_pass http://tollgate;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      # Streams go through as they are produced; long answers are not cut.
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      # A killed instance is skipped; a request it already received is not sent twice.
      proxy_next_upstream error timeout;
    }
  }
}
EOF
nginx -e "$run_dir/nginx-error.log" -p "$run_dir" -c "$run_dir/nginx.conf" &
pids+=($!)
for _ in $(seq 50); do
  curl -fsS "http://$LISTEN/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$run_dir/nginx-error.log" >&2; exit 1; }
  sleep 0.1
done

password_file="$DATA_DIR/instance-1/admin-password"
echo
echo "Tollgate cluster: http://$LISTEN/ (instances on ${PORTS[*]}, PostgreSQL $DATABASE, Redis prefix $TOLLGATE_REDIS_PREFIX)"
if [ -n "${TOLLGATE_ADMIN_PASSWORD:-}" ]; then
  echo "First admin: admin@tollgate.local; password from TOLLGATE_ADMIN_PASSWORD"
elif [ -f "$password_file" ]; then
  echo "First admin: admin@tollgate.local; password in $password_file (readable only by you)"
fi
echo "Logs in $run_dir. Ctrl-C stops all of it."
# Until Ctrl-C, or until any of them exits.
wait -n "${pids[@]}" || true
