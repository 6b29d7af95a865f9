/// The page the server serves at `/`: the cluster × resource matrix, refreshed from
/// `GET /api/v1/status` every 2 s. One self-contained document — no build step, no external
/// asset, works offline. Cells carry `data-resource`, `data-cluster` and `data-state` so that
/// scripts (and the headless-browser test) read the DOM without parsing text.
enum StatusPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>meshrelay status</title>
    <style>
      :root { --applied:#1f8f4e; --pending:#c98a00; --failed:#c62828; --warning:#e06c00; --none:#9e9e9e; --ink:#1d2330; --line:#dde1e8; }
      body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 24px; background: #f7f8fa; }
      h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 24px 0 8px; }
      #meta { color: #5b6475; } #error { color: var(--failed); font-weight: 600; }
      table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
      th, td { border: 1px solid var(--line); padding: 5px 10px; text-align: left; white-space: nowrap; }
      th { background: #eef1f5; font-weight: 600; }
      td.state { text-align: center; font-weight: 600; color: #fff; font-size: 12px; letter-spacing: .03em; }
      td[data-state="APPLIED"] { background: var(--applied); } td[data-state="PENDING"] { background: var(--pending); }
      td[data-state="FAILED"] { background: var(--failed); } td[data-state="WARNING"] { background: var(--warning); }
      td[data-state="NONE"] { background: #fff; color: var(--none); font-weight: 400; }
      .dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; }
      .up { background: var(--applied); } .down { background: var(--failed); }
      .overall { font-weight: 600; }
      .overall[data-overall="ACCEPTED"] { color: var(--applied); } .overall[data-overall="PENDING"] { color: var(--pending); }
      .overall[data-overall="FAILED"], .overall[data-overall="INVALID"] { color: var(--failed); } .overall[data-overall="WARNING"] { color: var(--warning); } .msg { color: #5b6475; max-width: 520px; overflow: hidden; text-overflow: ellipsis; }
      .legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; color: #fff; border-radius: 3px; font-size: 12px; }
    </style>
    </head>
    <body>
    <h1>meshrelay</h1>
    <div id="meta">loading…</div>
    <div id="error"></div>
    <h2>Clusters</h2>
    <table id="clusters"><thead><tr><th>cluster</th><th>connection</th><th>policy</th><th>applied revision</th><th>lag</th><th>last seen</th><th>agent</th><th>data plane</th><th>certificate</th></tr></thead><tbody></tbody></table>
    <h2>Resources × clusters</h2>
    <p class="legend"><span style="background:var(--applied)">APPLIED</span><span style="background:var(--pending)">PENDING</span><span style="background:var(--warning)">WARNING</span><span style="background:var(--failed)">FAILED</span> — not selected: empty</p>
    <table id="matrix"><thead></thead><tbody></tbody></table>
    <script>
    "use strict";
    function cell(tag, text, attributes) {
      const element = document.createElement(tag);
      element.textContent = text;
      for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, value);
      return element;
    }
    function render(status) {
      document.getElementById("meta").textContent =
        "revision " + status.revision + " · generated " + status.generatedAt + " · refreshed every 2 s";
      const clusters = document.querySelector("#clusters tbody");
      clusters.replaceChildren();
      for (const c of status.clusters) {
        const row = cell("tr", "", { "data-cluster": c.name, "data-connected": String(c.connected), "data-lag": String(c.lag) });
        row.append(cell("td", c.name + (c.registered ? "" : " (not registered)")));
        const connection = cell("td", c.connected ? "connected" : (c.lastSeen ? "disconnected since " + c.lastSeen : "never connected"));
        connection.prepend(cell("span", "", { class: "dot " + (c.connected ? "up" : "down") }));
        row.append(connection, cell("td", c.outboundPolicy || "-"), cell("td", String(c.appliedRevision)),
          cell("td", String(c.lag)), cell("td", c.lastSeen || "never"), cell("td", c.agentVersion || "-"),
          cell("td", c.dataPlane || "-", { title: c.dataPlaneMessage || "", "data-data-plane": c.dataPlane || "" }),
          cell("td", c.certificateExpires ? "until " + c.certificateExpires : "-"));
        clusters.append(row);
      }
      const names = status.clusters.map(c => c.name);
      const head = cell("tr", "");
      head.append(cell("th", "resource"), cell("th", "state"));
      for (const name of names) head.append(cell("th", name));
      head.append(cell("th", "message"));
      document.querySelector("#matrix thead").replaceChildren(head);
      const body = document.querySelector("#matrix tbody");
      body.replaceChildren();
      for (const r of status.resources) {
        if (r.kind === "KubernetesCluster" || r.kind === "Workspace") continue;
        const id = r.namespace + "/" + r.name;
        const row = cell("tr", "", { "data-resource": id, "data-kind": r.kind, "data-state": r.state });
        row.append(cell("td", r.kind + " " + id), cell("td", r.state, { class: "overall", "data-overall": r.state }));
        const byCluster = Object.fromEntries(r.clusters.map(c => [c.name, c]));
        for (const name of names) {
          const c = byCluster[name];
          const state = c ? c.state : "NONE";
          row.append(cell("td", c ? c.state : "", { class: "state", "data-resource": id, "data-cluster": name, "data-state": state,
            title: c ? c.message + (c.since ? " (since " + c.since + ")" : "") : "not selected for this cluster" }));
        }
        row.append(cell("td", r.message, { class: "msg", title: r.message }));
        body.append(row);
      }
      document.body.setAttribute("data-revision", String(status.revision));
    }
    async function refresh() {
      try {
        const answer = await fetch("/api/v1/status", { cache: "no-store" });
        if (!answer.ok) throw new Error("GET /api/v1/status answered " + answer.status);
        render(await answer.json());
        document.getElementById("error").textContent = "";
      } catch (error) {
        document.getElementById("error").textContent = "cannot read the status: " + error.message;
      }
    }
    refresh();
    setInterval(refresh, 2000);
    </script>
    </body>
    </html>
    """#
}
