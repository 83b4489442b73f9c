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
export GOVBOT_RASA_TOKEN=${GOVBOT_RASA_TOKEN:-$(random_token)}
export GOVBOT_CASE_URL="http://127.0.0.1:${CASE_PORT}"
export GOVBOT_RASA_URL="http://127.0.0.1:${RASA_PORT}"

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
.venv/bin/rasa run actions --actions actions --port "$ACTION_PORT" &
pids+=($!)
# The HTTP API is on only with a token: the case service uses it to resume a conversation after 转人工.
.venv/bin/rasa run --model models/govbot.tar.gz --endpoints endpoints.yml --credentials credentials.yml \
  --interface 127.0.0.1 --port "$RASA_PORT" --cors "http://127.0.0.1:${RASA_PORT}" \
  --enable-api --auth-token "$GOVBOT_RASA_TOKEN" &
pids+=($!)

for _ in $(seq 1 180); do
  if curl -fsS "http://127.0.0.1:${RASA_PORT}/status" >/dev/null 2>&1 || curl -fsS "http://127.0.0.1:${RASA_PORT}/" >/dev/null 2>&1; then
    if curl -fsS "http://127.0.0.1:${ACTION_PORT}/health" >/dev/null 2>&1 \
       && curl -fsS "http://127.0.0.1:${CASE_PORT}/health" >/dev/null 2>&1; then
      cat <<MSG

政务公开咨询助手已启动：Rasa http://127.0.0.1:${RASA_PORT}（REST 与 socketio），动作服务 http://127.0.0.1:${ACTION_PORT}，
办件系统（参考实现）http://127.0.0.1:${CASE_PORT}（接口说明 /openapi.json）
试一试：curl -s http://127.0.0.1:${RASA_PORT}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
          -d '{"sender":"demo","message":"上海市商务委2020年对政务新媒体提了什么要求"}'
或另开终端运行 .venv/bin/rasa shell。按 Ctrl-C 停止。
MSG
      if [[ -n "${WECHAT_TOKEN:-}" ]]; then
        echo "微信公众号回调：http://127.0.0.1:${RASA_PORT}/webhooks/wechat/webhook（经 HTTPS 反向代理对外提供，见 README「微信公众号接入」）"
      fi
      break
    fi
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "启动失败：有服务进程已退出，请查看上面的日志。" >&2; exit 1; }
  done
  sleep 1
done
wait -n "${pids[@]}"
