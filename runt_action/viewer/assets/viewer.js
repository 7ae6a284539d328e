// The live viewer page: swap the fragments the server pushes over its websocket.
// The server renders every fragment (escaped, the same code as the HTML report); this script
// only puts them in place. Nothing polls: a closed socket reconnects with a backoff.
(function () {
  "use strict";
  var cells = document.getElementById("cells");
  var state = document.getElementById("live-state");
  var text = document.getElementById("live-text");
  if (!cells) return;
  var url = new URL(cells.dataset.live, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  var retry = 0;

  function show(cls, message) {
    state.className = "live-state " + cls;
    text.textContent = message;
  }

  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content.firstElementChild;
  }

  // A notebook page's cells carry data-cell-id, the index page's rows data-key.
  function key(node) {
    return node.dataset.cellId || node.dataset.key;
  }

  function byId(id) {
    var all = cells.children;
    for (var i = 0; i < all.length; i++) {
      if (key(all[i]) === id) return all[i];
    }
    return null;
  }

  function apply(msg) {
    if (msg.header !== undefined) {
      var old = document.getElementById("nb-header");
      var fresh = fragment(msg.header);
      if (old && fresh) old.replaceWith(fresh);
      var title = fresh && fresh.querySelector("h1");
      if (title && cells.tagName !== "TBODY") document.title = title.textContent;
    }
    var changed = msg.cells || {};
    Object.keys(changed).forEach(function (id) {
      var node = fragment(changed[id]);
      var existing = byId(id);
      if (existing) existing.replaceWith(node);
      else cells.appendChild(node);
    });
    if (msg.order) {
      var keep = {};
      msg.order.forEach(function (id, i) {
        keep[id] = true;
        var node = byId(id);
        if (node && cells.children[i] !== node) cells.insertBefore(node, cells.children[i] || null);
      });
      Array.prototype.slice.call(cells.children).forEach(function (node) {
        if (!keep[key(node)]) node.remove();
      });
      var empty = document.getElementById("no-cells");
      if (empty && msg.order.length) empty.remove();
    }
  }

  function connect() {
    var ws = new WebSocket(url.href);
    ws.onopen = function () {
      retry = 0;
      show("connected", "live");
    };
    ws.onmessage = function (event) {
      apply(JSON.parse(event.data));
    };
    ws.onclose = function () {
      show("disconnected", "disconnected, reconnecting");
      retry += 1;
      window.setTimeout(connect, Math.min(10000, 250 * Math.pow(2, retry)));
    };
  }
  connect();
})();
