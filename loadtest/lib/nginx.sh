# Starting a private nginx for the static-file baseline; sourced after common.sh.

# Serves FILE at URL path PATH from a private nginx; see start_nginx_tree.
start_nginx() {
    local file=$1 path=$2
    mkdir -p "$WORK_DIR/nginx/www$(dirname "$path")"
    cp "$file" "$WORK_DIR/nginx/www$path"
    start_nginx_tree "$path"
}

# Serves $WORK_DIR/nginx/www from a private nginx on a free loopback port:
# one worker per core, no access log, keep-alive without a practical request
# limit, and the same cache headers opentime sends, so the two answer with
# bodies and heads of about the same size. The first argument, a URL path,
# must answer 200 once it is up; any further arguments are nginx `location` blocks, added to the
# server as they are. Runs in the foreground of a tracked child (daemon off).
# Sets NGINX_PORT, NGINX_PID, NGINX_URL.
start_nginx_tree() {
    local path=$1
    shift
    local locations
    locations=$(printf '        %s\n' "$@")
    local root="$WORK_DIR/nginx"
    mkdir -p "$root/www" "$root/tmp" "$root/logs"
    chmod -R a+rX "$root/www"
    NGINX_PORT=$(free_port)
    local workers
    workers=$(nproc)
    cat >"$root/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes $workers;
pid $root/nginx.pid;
error_log $WORK_DIR/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    client_body_temp_path $root/tmp/body;
    proxy_temp_path $root/tmp/proxy;
    fastcgi_temp_path $root/tmp/fastcgi;
    uwsgi_temp_path $root/tmp/uwsgi;
    scgi_temp_path $root/tmp/scgi;
    types { image/png png; image/jpeg jpg; image/gif gif; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $root/www;
        location / {
            add_header Cache-Control "no-cache, no-store, must-revalidate, max-age=0, private" always;
            add_header Pragma "no-cache" always;
            add_header Expires "0" always;
        }
$locations
    }
}
CONF
    nginx -t -q -p "$root" -c "$root/nginx.conf" -e "$WORK_DIR/nginx-error.log" 2>>"$WORK_DIR/nginx-error.log" ||
        die "nginx rejects its config: $(tail -3 "$WORK_DIR/nginx-error.log")"
    nginx -p "$root" -c "$root/nginx.conf" -e "$WORK_DIR/nginx-error.log" >>"$WORK_DIR/nginx-error.log" 2>&1 &
    NGINX_PID=$!
    track "$NGINX_PID"
    NGINX_URL="http://127.0.0.1:$NGINX_PORT"
    wait_http "$NGINX_URL$path" 10 "$NGINX_PID" ||
        die "nginx not serving $NGINX_URL$path within 10 s: $(tail -3 "$WORK_DIR/nginx-error.log")"
    log "nginx pid $NGINX_PID ($workers workers) on $NGINX_URL"
}

# CPU ticks of the nginx master and its workers.
nginx_cpu_ticks() {
    local total=0 pid
    for pid in "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID"); do
        total=$((total + $(cpu_ticks "$pid")))
    done
    echo "$total"
}
