#!/usr/bin/env bash
# Starts the action server and the Rasa server on loopback; Ctrl-C stops both.
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
# Rasa -> action server (bot.action_auth) and the signature of conversation ids (bot.conversation_ids).
ensure_secret GOVBOT_ACTION_TOKEN
ensure_secret GOVBOT_SESSION_SECRET
export GOVBOT_CASE_URL="http://127.0.0.1:${CASE_PORT}"
export GOVBOT_RASA_URL="http://127.0.0.1:${RASA_PORT}"

# Rasa listens on loopback only: public clients reach it through a local HTTPS proxy (or, in production,
# bot.balancer), whose X-Forwarded-For names the client for the per-address limits (bot.rate_limit).
export GOVBOT_TRUSTED_PROXIES=${GOVBOT_TRUSTED_PROXIES-127.0.0.1,::1}

# GOVBOT_PROFILE=production: PostgreSQL + Redis, N Rasa and M action-server replicas behind
# bot.balancer on the same public ports (README「生产部署」). Loopback defaults; a deployment sets them.
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

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "正在停止……"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  echo "已停止。"
}
trap stop INT TERM EXIT

.venv/bin/python -m bot.case_service --host 127.0.0.1 --port "$CASE_PORT" &
pids+=($!)
# The HTTP API is on only with a token: the case service uses it to resume a conversation after 转人工.
# Browsers may call Rasa (REST, socket.io) only from these origins: the pages embedding the widget.
export GOVBOT_WEB_ORIGINS=${GOVBOT_WEB_ORIGINS:-http://127.0.0.1:${GOVBOT_WEB_PORT:-8080}}
IFS=',' read -r -a web_origins <<< "${GOVBOT_WEB_ORIGINS// /}"
start_rasa() {
  # SANIC_REQUEST_MAX_SIZE: no request to Rasa may be larger (the channels have smaller limits of their own).
  # bot.rasa_cli is `rasa` with the API token read from GOVBOT_RASA_TOKEN, never on the command line (ps).
  SANIC_REQUEST_MAX_SIZE=${SANIC_REQUEST_MAX_SIZE:-1048576} \
  .venv/bin/python -m bot.rasa_cli run --model models/govbot.tar.gz --endpoints "$ENDPOINTS" --credentials credentials.yml \
    --interface 127.0.0.1 --port "$1" --cors "${web_origins[@]}" \
    --enable-api &
  pids+=($!)
}
if [[ "$PROFILE" == "production" ]]; then
  rasa_backends=() action_backends=()
  for i in $(seq 1 "$ACTION_REPLICAS"); do
    .venv/bin/python -m bot.action_server --actions actions --port $((ACTION_BASE_PORT + i)) &
    pids+=($!)
    action_backends+=(--backend "http://127.0.0.1:$((ACTION_BASE_PORT + i))")
  done
  for i in $(seq 1 "$RASA_REPLICAS"); do
    start_rasa $((RASA_BASE_PORT + i))
    rasa_backends+=(--backend "http://127.0.0.1:$((RASA_BASE_PORT + i))")
  done
  .venv/bin/python -m bot.balancer --listen "127.0.0.1:${ACTION_PORT}" --health-path /ready "${action_backends[@]}" &
  pids+=($!)
  .venv/bin/python -m bot.balancer --listen "127.0.0.1:${RASA_PORT}" --health-path / "${rasa_backends[@]}" &
  pids+=($!)
  echo "production 配置：${RASA_REPLICAS} 个 Rasa 副本、${ACTION_REPLICAS} 个动作服务副本，PostgreSQL 与 Redis（见 README「生产部署」）"
else
  .venv/bin/python -m bot.action_server --actions actions --port "$ACTION_PORT" &
  pids+=($!)
  start_rasa "$RASA_PORT"
fi
# Portal demo page with the chat widget (/) and the service-hall kiosk (/kiosk); bundle from `make web`.
WEB_PORT=${GOVBOT_WEB_PORT:-8080}
GOVBOT_WEB_PORT="$WEB_PORT" GOVBOT_WEB_RASA_URL=${GOVBOT_WEB_RASA_URL:-$GOVBOT_RASA_URL} \
  .venv/bin/python -m bot.web --host 127.0.0.1 &
pids+=($!)

# Rasa takes 1–4 minutes to load on a busy 2-core machine (two replicas in production).
start_deadline=$(( SECONDS + ${GOVBOT_START_TIMEOUT:-900} ))
ready=
while (( SECONDS < start_deadline )); do
  if curl -fsS "http://127.0.0.1:${RASA_PORT}/" >/dev/null 2>&1; then
    if curl -fsS "http://127.0.0.1:${ACTION_PORT}/ready" >/dev/null 2>&1 \
       && curl -fsS "http://127.0.0.1:${CASE_PORT}/health" >/dev/null 2>&1 \
       && curl -fsS "http://127.0.0.1:${WEB_PORT}/health" >/dev/null 2>&1; then
      cat <<MSG

政务公开咨询助手已启动：Rasa http://127.0.0.1:${RASA_PORT}（REST 与 socketio），动作服务 http://127.0.0.1:${ACTION_PORT}，
办件系统（参考实现）http://127.0.0.1:${CASE_PORT}（接口说明 /openapi.json）
网站咨询挂件演示页 http://127.0.0.1:${WEB_PORT}/ ，政务大厅自助终端 http://127.0.0.1:${WEB_PORT}/kiosk
试一试：curl -s http://127.0.0.1:${RASA_PORT}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
          -d '{"sender":"demo","message":"上海市商务委2020年对政务新媒体提了什么要求"}'
或另开终端运行 .venv/bin/rasa shell。按 Ctrl-C 停止。
MSG
      if [[ -n "${WECHAT_TOKEN:-}" ]]; then
        echo "微信公众号回调：http://127.0.0.1:${RASA_PORT}/webhooks/wechat/webhook（经 HTTPS 反向代理对外提供，见 README「微信公众号接入」）"
      fi
      ready=1
      break
    fi
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "启动失败：有服务进程已退出，请查看上面的日志。" >&2; exit 1; }
  done
  sleep 1
done
if [[ -z "$ready" ]]; then
  echo "启动超时：${GOVBOT_START_TIMEOUT:-900} 秒内服务未全部就绪，请查看上面的日志（可用 GOVBOT_START_TIMEOUT 调整等待时间）。" >&2
  exit 1
fi
wait -n "${pids[@]}"
