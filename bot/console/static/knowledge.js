/* Knowledge pages: upload with progress (XMLHttpRequest upload events), then the index build's
   progress polled from /console/knowledge/jobs/<id>; confirmation before removing a document. */
(function () {
  "use strict";

  function csrf(form) {
    var field = form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  function setBar(bar, percent) {
    bar.value = percent;
    bar.textContent = percent + "%";
  }

  function describe(job) {
    if (job.state === "done" || job.state === "failed") return job.message;
    return job.stage + (job.total ? " " + job.done + "/" + job.total : "") + "……";
  }

  /* Polls a build job; onDone(job) when it has finished (done or failed). */
  function follow(jobId, bar, text, onDone) {
    function poll() {
      fetch("/console/knowledge/jobs/" + encodeURIComponent(jobId), {
        headers: { Accept: "application/json" }, credentials: "same-origin"
      }).then(function (response) {
        return response.json().then(function (job) { return { ok: response.ok, job: job }; });
      }).then(function (result) {
        if (!result.ok) { text.textContent = result.job.error || "无法读取进度"; return; }
        var job = result.job;
        setBar(bar, job.percent);
        text.textContent = describe(job);
        text.className = job.state === "failed" ? "error" : (job.state === "done" ? "notice" : "");
        if (job.state === "done" || job.state === "failed") { onDone(job); } else { setTimeout(poll, 500); }
      }).catch(function () { text.textContent = "网络中断，正在重试……"; setTimeout(poll, 2000); });
    }
    poll();
  }

  // A page opened after a change (?job=…) follows that build until it is done.
  var pending = document.getElementById("kb-job");
  if (pending && (pending.dataset.state === "queued" || pending.dataset.state === "running")) {
    follow(pending.dataset.job, document.getElementById("kb-job-bar"), document.getElementById("kb-job-text"), function (job) {
      if (job.state === "done") window.location.reload();
    });
  }

  var form = document.getElementById("kb-upload");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById("kb-progress");
      var uploadBar = document.getElementById("kb-upload-bar");
      var indexBar = document.getElementById("kb-index-bar");
      var text = document.getElementById("kb-progress-text");
      var button = form.querySelector("button[type=submit]");
      box.hidden = false;
      setBar(uploadBar, 0);
      setBar(indexBar, 0);
      text.className = "";
      text.textContent = "正在上传……";
      button.disabled = true;
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-CSRF-Token", csrf(form));
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) setBar(uploadBar, Math.round(100 * e.loaded / e.total));
      });
      request.addEventListener("load", function () {
        var data = {};
        try { data = JSON.parse(request.responseText); } catch (err) { data = {}; }
        if (request.status !== 200 || !data.job) {
          text.className = "error";
          text.textContent = data.error || ("上传失败（" + request.status + "）");
          button.disabled = false;
          return;
        }
        setBar(uploadBar, 100);
        text.textContent = "已上传《" + data.document.title + "》，正在更新索引……";
        follow(data.job.id, indexBar, text, function (job) {
          button.disabled = false;
          if (job.state === "done") {
            window.location.assign("/console/knowledge?job=" + encodeURIComponent(job.id));
          }
        });
      });
      request.addEventListener("error", function () {
        text.className = "error";
        text.textContent = "网络错误，文件没有上传。";
        button.disabled = false;
      });
      request.send(new FormData(form));
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.kb-remove"), function (f) {
    f.addEventListener("submit", function (event) {
      if (!window.confirm("确定删除《" + f.dataset.title + "》吗？删除后助手不再引用它。")) event.preventDefault();
    });
  });
})();
