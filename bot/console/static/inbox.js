// Staff inbox: new handoff messages arrive over server-sent events; replies go out with fetch()
// (X-CSRF-Token), so the page is not reloaded and what staff were typing elsewhere stays.
(function () {
  "use strict";
  const live = document.getElementById("inbox-live");
  if (!live) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const problem = document.getElementById("inbox-problem");
  const fresh = document.getElementById("inbox-new");

  function timeOf(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Asia/Shanghai" });
  }

  function append(item) {
    const card = document.getElementById("case-" + item.tracking_number);
    if (!card) {
      if (item.role !== "staff") fresh.hidden = false; // a handoff that started after the page was drawn
      return;
    }
    const thread = card.querySelector(".thread");
    const li = document.createElement("li");
    li.className = "from-" + item.role + " fresh";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = item.label;
    const at = document.createElement("span");
    at.className = "at";
    at.textContent = timeOf(item.at);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = item.text;
    li.append(who, " ", at, text);
    thread.append(li);
    thread.scrollTop = thread.scrollHeight;
    const waiting = card.querySelector(".waiting");
    if (item.role === "staff") {
      waiting.dataset.since = "";
      waiting.textContent = "已回复，等待对方";
    } else if (item.role === "citizen" && !waiting.dataset.since) {
      waiting.dataset.since = item.at;
      tick();
    } else if (item.role === "system") {
      waiting.textContent = "已结束";
    }
  }

  function tick() {
    document.querySelectorAll(".waiting").forEach((node) => {
      if (!node.dataset.since) return;
      const minutes = Math.max(0, Math.floor((Date.now() - new Date(node.dataset.since)) / 60000));
      node.textContent = "已等待 " + minutes + " 分钟";
    });
  }
  setInterval(tick, 30000);

  const source = new EventSource("/console/inbox/events?after=" + encodeURIComponent(live.dataset.after || "0"));
  source.addEventListener("message", (event) => {
    problem.hidden = true;
    append(JSON.parse(event.data));
  });
  source.addEventListener("problem", (event) => {
    problem.textContent = JSON.parse(event.data).error;
    problem.hidden = false;
  });
  source.addEventListener("open", () => { live.dataset.state = "live"; });

  document.querySelectorAll("select.canned").forEach((select) => {
    select.addEventListener("change", () => {
      if (!select.value) return;
      const box = select.form.querySelector("textarea");
      box.value = select.value;
      select.value = "";
      box.focus();
    });
  });

  document.querySelectorAll("form.reply").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const box = form.querySelector("textarea");
      const status = form.querySelector(".sent");
      const text = box.value.trim();
      if (!text) {
        status.textContent = "请先输入回复内容。";
        return;
      }
      const button = form.querySelector("button");
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf, Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ text }),
        credentials: "same-origin",
      })
        .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
        .then(({ ok, body }) => {
          if (!ok) throw new Error(body.error || "发送失败");
          box.value = "";
          // REST callers receive it with their next message; false means Rasa could not be reached.
          status.textContent = body.delivered ? "已送达对方。" : "回复已记入工单，但暂时没能送达对方（对话服务不可用），请稍后重发或电话联系。";
        })
        .catch((error) => { status.textContent = "没有发出：" + error.message; })
        .finally(() => { button.disabled = false; });
    });
  });
})();
