#!/usr/bin/env bash
# Starts the action server and the Rasa server on loopback; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

RASA_PORT=${RASA_PORT:-5005}
ACTION_PORT=${ACTION_PORT:-5055}
export RASA_TELEMETRY_ENABLED=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export SANIC_HOST=127.0.0.1
export ACTION_ENDPOINT_URL="http://127.0.0.1:${ACTION_PORT}/webhook"

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

.venv/bin/rasa run actions --actions actions --port "$ACTION_PORT" &
pids+=($!)
.venv/bin/rasa run --model models/govbot.tar.gz --endpoints endpoints.yml --credentials credentials.yml \
  --interface 127.0.0.1 --port "$RASA_PORT" --cors "http://127.0.0.1:${RASA_PORT}" &
pids+=($!)

for _ in $(seq 1 180); do
  if curl -fsS "http://127.0.0.1:${RASA_PORT}/status" >/dev/null 2>&1 || curl -fsS "http://127.0.0.1:${RASA_PORT}/" >/dev/null 2>&1; then
    if curl -fsS "http://127.0.0.1:${ACTION_PORT}/health" >/dev/null 2>&1; then
      cat <<MSG

政务公开咨询助手已启动：Rasa http://127.0.0.1:${RASA_PORT}（REST 与 socketio），动作服务 http://127.0.0.1:${ACTION_PORT}
试一试：curl -s http://127.0.0.1:${RASA_PORT}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
          -d '{"sender":"demo","message":"上海市商务委2020年对政务新媒体提了什么要求"}'
或另开终端运行 .venv/bin/rasa shell。按 Ctrl-C 停止。
MSG
      break
    fi
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "启动失败：有服务进程已退出，请查看上面的日志。" >&2; exit 1; }
  done
  sleep 1
done
wait -n "${pids[@]}"
