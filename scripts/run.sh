#!/usr/bin/env bash
# Starts the case service, the action server(s), the Rasa server(s) and the web server on loopback, each
# under a supervisor that restarts it when it dies (with backoff) while the others keep serving; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."

RASA_PORT=${RASA_PORT:-5005}
ACTION_PORT=${ACTION_PORT:-5055}
CASE_PORT=${CASE_PORT:-8100}
export RASA_TELEMETRY_ENABLED=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export SANIC_HOST=127.0.0.1
export ACTION_ENDPOINT_URL="http://127.0.0.1:${ACTION_PORT}/webhook"
# Tokens: a deployment sets them; otherwise each run makes its own, known only to these processes.
random_token() { .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))'; }
export GOVBOT_CASE_BOT_TOKEN=${GOVBOT_CASE_BOT_TOKEN:-$(random_token)}
export GOVBOT_CASE_STAFF_TOKEN=${GOVBOT_CASE_STAFF_TOKEN:-$(random_token)}
# These three may instead come from files (GOVBOT_RASA_TOKEN_FILE …): secrets never go on a command line.
ensure_secret() {
  local file_var="$1_FILE"
  if [[ -z "${!1:-}" && -z "${!file_var:-}" ]]; then export "$1=$(random_token)"; fi
}
ensure_secret GOVBOT_RASA_TOKEN
# Rasa -> action server (bot.access.action_auth) and the signature of conversation ids (bot.access.conversation_ids).
ensure_secret GOVBOT_ACTION_TOKEN
ensure_secret GOVBOT_SESSION_SECRET
export GOVBOT_CASE_URL="http://127.0.0.1:${CASE_PORT}"
export GOVBOT_RASA_URL="http://127.0.0.1:${RASA_PORT}"

# Rasa listens on loopback only: public clients reach it through a local HTTPS proxy (and, in production,
# nginx in front of the replicas), whose X-Forwarded-For names the client for the per-address limits (bot.access.rate_limit).
export GOVBOT_TRUSTED_PROXIES=${GOVBOT_TRUSTED_PROXIES-127.0.0.1,::1}

# GOVBOT_PROFILE=production: PostgreSQL + Redis, N Rasa and M action-server replicas behind nginx
# (deploy/nginx, `make nginx`) on the same public ports (README「生产部署」). Loopback defaults; a deployment sets them.
PROFILE=${GOVBOT_PROFILE:-default}
ENDPOINTS=endpoints.yml
RASA_REPLICAS=1
ACTION_REPLICAS=1
if [[ "$PROFILE" == "production" ]]; then
  ENDPOINTS=endpoints.production.yml
  RASA_REPLICAS=${GOVBOT_RASA_REPLICAS:-2}
  ACTION_REPLICAS=${GOVBOT_ACTION_REPLICAS:-2}
  : "${GOVBOT_DATABASE_URL:=postgresql://postgres@127.0.0.1:5432/test}"
  export GOVBOT_TRACKER_DATABASE_URL=${GOVBOT_TRACKER_DATABASE_URL:-$GOVBOT_DATABASE_URL}
  export GOVBOT_OUTBOX_DATABASE_URL=${GOVBOT_OUTBOX_DATABASE_URL:-$GOVBOT_DATABASE_URL}
  export GOVBOT_CASE_DATABASE_URL=${GOVBOT_CASE_DATABASE_URL:-$GOVBOT_DATABASE_URL}
  export GOVBOT_CONSOLE_DATABASE_URL=${GOVBOT_CONSOLE_DATABASE_URL:-$GOVBOT_DATABASE_URL}
  export GOVBOT_REDIS_HOST=${GOVBOT_REDIS_HOST:-127.0.0.1} GOVBOT_REDIS_PORT=${GOVBOT_REDIS_PORT:-6379}
  export GOVBOT_REDIS_DB=${GOVBOT_REDIS_DB:-1} GOVBOT_REDIS_PASSWORD=${GOVBOT_REDIS_PASSWORD:-}
  export GOVBOT_REDIS_KEY_PREFIX=${GOVBOT_REDIS_KEY_PREFIX:-govbot}
  export GOVBOT_RATE_LIMIT_STORAGE=${GOVBOT_RATE_LIMIT_STORAGE:-redis://${GOVBOT_REDIS_HOST}:${GOVBOT_REDIS_PORT}/2}
  # WeChat channel state (replayed requests, retries by MsgId, numbered options) shared by the replicas.
  export GOVBOT_WECHAT_STATE_STORAGE=${GOVBOT_WECHAT_STATE_STORAGE:-redis://${GOVBOT_REDIS_HOST}:${GOVBOT_REDIS_PORT}/${GOVBOT_REDIS_DB}}
  # A replica killed mid-message leaves its lock ticket behind; it expires after this many seconds.
  export TICKET_LOCK_LIFETIME=${TICKET_LOCK_LIFETIME:-20}
  # Replicas serve the index `make index` / `govbot kb build` published; they never build it.
  export GOVBOT_INDEX_MODE=${GOVBOT_INDEX_MODE:-published}
fi
RASA_BASE_PORT=${GOVBOT_RASA_REPLICA_BASE_PORT:-5010}
ACTION_BASE_PORT=${GOVBOT_ACTION_REPLICA_BASE_PORT:-5060}

# This run's own files (supervisor marks, nginx's config, pid and logs): one directory per RASA_PORT.
RUN_DIR=${GOVBOT_RUN_DIR:-var/run/port-${RASA_PORT}}
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
rm -f "$RUN_DIR"/*.exited
# The tokens staff and developers need to call the APIs themselves (the case service's staff endpoints,
# `govbot eval-conversations`): this run's values in a file only this user can read, never on a command line
# (printf is a shell builtin, so no process shows them). `set -a; . "$RUN_DIR/tokens.env"; set +a` loads them.
rm -f "$RUN_DIR/tokens.env"
(
  umask 077
  for secret_name in GOVBOT_CASE_STAFF_TOKEN GOVBOT_RASA_TOKEN GOVBOT_REST_TOKEN; do
    file_name="${secret_name}_FILE"
    if [[ -n "${!secret_name:-}" ]]; then printf '%s=%s\n' "$secret_name" "${!secret_name}"
    elif [[ -n "${!file_name:-}" ]]; then printf '%s=%s\n' "$file_name" "${!file_name}"; fi
  done >"$RUN_DIR/tokens.env"
)

pids=()
stop() {  # stop EXIT-STATUS
  trap - INT TERM EXIT
  echo
  echo "正在停止……"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  rm -f "$RUN_DIR/tokens.env"  # this run's tokens end with it
  echo "已停止。"
  exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop $?' EXIT

# supervise NAME COMMAND…: runs COMMAND; when it exits, notes it in $RUN_DIR/NAME.exited and starts it
# again after 1, 2, 4 … 30 seconds (1 again once it ran for a minute). TERM to the supervisor stops both.
supervise() {
  local name=$1
  shift
  (
    child=
    trap '[[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null; [[ -n "$child" ]] && wait "$child" 2>/dev/null; exit 0' TERM
    delay=1
    while :; do
      started=$SECONDS
      "$@" &
      child=$!
      code=0
      wait "$child" || code=$?
      echo "$(date '+%F %T') ${name}（进程 ${child}）已退出，退出码 ${code}" >>"$RUN_DIR/$name.exited"
      (( SECONDS - started >= 60 )) && delay=1
      echo "${name} 已退出（退出码 ${code}），${delay} 秒后重启；其余服务照常运行。" >&2
      sleep "$delay" &
      child=$!
      wait "$child" || true
      (( delay = delay * 2 > 30 ? 30 : delay * 2 ))
    done
  ) &
  pids+=($!)
}

supervise case-service .venv/bin/python -m bot.case_service --host 127.0.0.1 --port "$CASE_PORT"
# The HTTP API is on only with a token: the case service uses it to resume a conversation after 转人工.
# Browsers may call Rasa (REST, socket.io) only from these origins: the pages embedding the widget.
# bot.ops.rasa_cli turns them into Rasa's --cors, as in compose and Kubernetes; the socket.io channel reads them too.
export GOVBOT_WEB_ORIGINS=${GOVBOT_WEB_ORIGINS:-http://127.0.0.1:${GOVBOT_WEB_PORT:-8080}}
# SANIC_REQUEST_MAX_SIZE: no request to Rasa may be larger (the channels have smaller limits of their own).
export SANIC_REQUEST_MAX_SIZE=${SANIC_REQUEST_MAX_SIZE:-1048576}
start_rasa() {  # start_rasa NAME PORT
  # bot.ops.rasa_cli is `rasa` with the API token read from GOVBOT_RASA_TOKEN, never on the command line (ps).
  supervise "$1" \
  .venv/bin/python -m bot.ops.rasa_cli run --model models/govbot.tar.gz --endpoints "$ENDPOINTS" --credentials credentials.yml \
    --interface 127.0.0.1 --port "$2" \
    --enable-api
}
if [[ "$PROFILE" == "production" ]]; then
  rasa_backends=() action_backends=()
  for i in $(seq 1 "$ACTION_REPLICAS"); do
    supervise "action-$i" .venv/bin/python -m bot.ops.action_server --actions actions --port $((ACTION_BASE_PORT + i))
    action_backends+=(--action "127.0.0.1:$((ACTION_BASE_PORT + i))")
  done
  for i in $(seq 1 "$RASA_REPLICAS"); do
    start_rasa "rasa-$i" $((RASA_BASE_PORT + i))
    rasa_backends+=(--rasa "127.0.0.1:$((RASA_BASE_PORT + i))")
  done
  # nginx as this user, with its config, pid and logs in $RUN_DIR/nginx (deploy/nginx/*.template).
  NGINX_PREFIX="$RUN_DIR/nginx"
  .venv/bin/python -m bot.ops.proxy_config --prefix "$NGINX_PREFIX" "${rasa_backends[@]}" "${action_backends[@]}" \
    --rasa-listen "127.0.0.1:${RASA_PORT}" --action-listen "127.0.0.1:${ACTION_PORT}" >/dev/null
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  [[ -x "$NGINX" ]] || { echo "未找到 nginx：请先运行 make nginx（安装 Debian 的 nginx 软件包）。" >&2; exit 1; }
  "$NGINX" -t -q -p "$NGINX_PREFIX/" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log"
  supervise nginx "$NGINX" -p "$NGINX_PREFIX/" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log"
  echo "production 配置：${RASA_REPLICAS} 个 Rasa 副本、${ACTION_REPLICAS} 个动作服务副本经 nginx 分发，PostgreSQL 与 Redis（见 README「生产部署」）"
else
  supervise action-server .venv/bin/python -m bot.ops.action_server --actions actions --port "$ACTION_PORT"
  start_rasa rasa "$RASA_PORT"
fi
# Portal demo page with the chat widget (/) and the service-hall kiosk (/kiosk); bundle from `make web`.
WEB_PORT=${GOVBOT_WEB_PORT:-8080}
# Staff console (/console): on a fresh machine the first admin, whose password is shown once below.
console_admin=$(.venv/bin/govbot staff init)
export GOVBOT_WEB_PORT="$WEB_PORT" GOVBOT_WEB_RASA_URL=${GOVBOT_WEB_RASA_URL:-$GOVBOT_RASA_URL}
supervise web .venv/bin/python -m bot.web --host 127.0.0.1

# Rasa takes 1–4 minutes to load on a busy 2-core machine (two replicas in production).
start_deadline=$(( SECONDS + ${GOVBOT_START_TIMEOUT:-900} ))
# Production: every replica itself, not just one of them through nginx. The replicas are asked
# directly first: a probe through nginx while one is still loading would make nginx leave it out for
# fail_timeout, and a replica that dies in that window would leave nginx with no live upstream.
replica_urls=()
if [[ "$PROFILE" == "production" ]]; then
  for i in $(seq 1 "$RASA_REPLICAS"); do replica_urls+=("http://127.0.0.1:$((RASA_BASE_PORT + i))/"); done
  for i in $(seq 1 "$ACTION_REPLICAS"); do replica_urls+=("http://127.0.0.1:$((ACTION_BASE_PORT + i))/ready"); done
fi
replicas_ready() {
  local url
  for url in "${replica_urls[@]}"; do curl -fsS "$url" >/dev/null 2>&1 || return 1; done
}
ready=
while (( SECONDS < start_deadline )); do
  if replicas_ready && curl -fsS "http://127.0.0.1:${RASA_PORT}/" >/dev/null 2>&1; then
    if curl -fsS "http://127.0.0.1:${ACTION_PORT}/ready" >/dev/null 2>&1 \
       && curl -fsS "http://127.0.0.1:${CASE_PORT}/health" >/dev/null 2>&1 \
       && curl -fsS "http://127.0.0.1:${WEB_PORT}/health" >/dev/null 2>&1; then
      cat <<MSG

政务公开咨询助手已启动：Rasa http://127.0.0.1:${RASA_PORT}（REST 与 socketio），动作服务 http://127.0.0.1:${ACTION_PORT}，
办件系统（参考实现）http://127.0.0.1:${CASE_PORT}（接口说明 /openapi.json）
网站咨询挂件演示页 http://127.0.0.1:${WEB_PORT}/ ，政务大厅自助终端 http://127.0.0.1:${WEB_PORT}/kiosk
工作人员控制台 http://127.0.0.1:${WEB_PORT}/console（账号用 .venv/bin/govbot staff create 创建）
本次运行的工作人员令牌与 Rasa API 令牌：${RUN_DIR}/tokens.env（仅本用户可读；set -a; . 该文件; set +a 后即可调用办件系统接口或 govbot eval-conversations）
试一试：curl -s http://127.0.0.1:${RASA_PORT}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
          -d '{"sender":"demo","message":"上海市商务委2020年对政务新媒体提了什么要求"}'
或另开终端运行 .venv/bin/rasa shell。按 Ctrl-C 停止。
MSG
      if [[ -n "$console_admin" ]]; then echo "$console_admin"; fi
      if [[ -n "${WECHAT_TOKEN:-}" ]]; then
        echo "微信公众号回调：http://127.0.0.1:${RASA_PORT}/webhooks/wechat/webhook（经 HTTPS 反向代理对外提供，见 README「微信公众号接入」）"
      fi
      ready=1
      break
    fi
  fi
  # A service that exits before everything is up is a broken setup, not a crash to ride out.
  for mark in "$RUN_DIR"/*.exited; do
    [[ -e "$mark" ]] || continue
    echo "启动失败：$(basename "$mark" .exited) 已退出，请查看上面的日志。" >&2
    exit 1
  done
  sleep 1
done
if [[ -z "$ready" ]]; then
  echo "启动超时：${GOVBOT_START_TIMEOUT:-900} 秒内服务未全部就绪，请查看上面的日志（可用 GOVBOT_START_TIMEOUT 调整等待时间）。" >&2
  exit 1
fi
# From here on a service that dies is restarted by its supervisor (messages above); runs until Ctrl-C.
wait "${pids[@]}" 2>/dev/null || true
echo "所有服务的监护进程都已结束。" >&2
exit 1
