// The big screen's one script, served by fairpos itself: follows /screen/events (server-sent
// events) and swaps in the figures they bring; the net total counts up to its new value.
// EventSource reconnects by itself when the server goes away; should it give up (an answer
// that is not an event stream), a new one is opened two seconds later, then longer apart up
// to a minute. A link revoked is told ("revoked"): the figures are taken down, and nothing
// more is asked.
(() => {
  const token = new URLSearchParams(location.search).get("token");
  // Beside the page, wherever a proxy serves it (`hq screen-link --base` with a path).
  const url = new URL("screen/events", location.href);
  url.search = token ? "?token=" + encodeURIComponent(token) : "";
  const $ = (id) => document.getElementById(id);
  const net = $("net");
  let shown = Number(net.dataset.fen);
  let frame = 0;
  const yuan = (fen) => (fen < 0 ? "-" : "") + "￥" + (Math.abs(fen) / 100).toFixed(2);

  function countTo(target, finalText) {
    cancelAnimationFrame(frame);
    const from = shown;
    const start = performance.now();
    const step = (now) => {
      const t = Math.min(1, (now - start) / 800);
      const eased = 1 - Math.pow(1 - t, 3);
      shown = t < 1 ? Math.round(from + (target - from) * eased) : target;
      net.textContent = t < 1 ? yuan(shown) : finalText;
      if (t < 1) frame = requestAnimationFrame(step);
    };
    frame = requestAnimationFrame(step);
  }

  function apply(f) {
    net.dataset.fen = String(f.net_fen);
    if (f.net_fen !== shown) countTo(f.net_fen, f.net);
    for (const key of ["sales", "synced", "complete", "tills"]) $(key).textContent = f[key];
    for (const [id, svg] of Object.entries(f.panels)) {
      const box = $(id);
      if (box) box.innerHTML = svg;
    }
  }

  let wait = 2000;
  let revoked = false;

  function takeDown() {
    revoked = true;
    cancelAnimationFrame(frame);
    net.textContent = "此链接已撤销 · This screen link was revoked";
    for (const key of ["sales", "synced", "complete", "tills"]) $(key).textContent = "—";
    for (const box of document.querySelectorAll(".chart-box")) box.textContent = "";
    $("link").textContent = "○ 已撤销 Revoked";
    document.body.classList.add("offline");
  }

  function connect() {
    const source = new EventSource(url);
    source.addEventListener("figures", (e) => {
      document.body.classList.remove("offline");
      wait = 2000;
      apply(JSON.parse(e.data));
    });
    source.addEventListener("revoked", () => {
      source.close();
      takeDown();
    });
    source.onopen = () => document.body.classList.remove("offline");
    source.onerror = () => {
      if (revoked) return;
      document.body.classList.add("offline");
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, wait);
        wait = Math.min(wait * 2, 60000);
      }
    };
  }
  connect();
})();
