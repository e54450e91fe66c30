// Homeward alert panel. Plain JavaScript, no framework, no build step.
//
// Truth lives on the server: the page keeps no alert or gateway state of its own beyond the last
// lists it fetched. It refetches a list on every stream event about it, on (re)connection and
// after each action, so a lost event costs a refetch, never a hidden alert. (A gateway that falls
// silent sends nothing; the server notices and sends the event itself.)
"use strict";

(function () {
  const API = "/api/v1";
  const STREAM_RETRY_MS = 5000;
  const CLOCK_TICK_MS = 30000;

  const $ = (id) => document.getElementById(id);
  const view = {
    login: $("login-view"),
    panel: $("panel-view"),
    loginForm: $("login-form"),
    loginError: $("login-error"),
    loginSubmit: $("login-submit"),
    conn: $("conn"),
    who: $("who"),
    logout: $("logout"),
    list: $("alerts"),
    empty: $("empty"),
    count: $("count"),
    notice: $("notice"),
    roleNote: $("role-note"),
    alertsView: $("alerts-view"),
    gatewaysView: $("gateways-view"),
    gatewayList: $("gateways"),
    gatewaysEmpty: $("gateways-empty"),
    gatewaysCount: $("gateways-count"),
    dialog: $("resolve-dialog"),
    dialogForm: $("resolve-form"),
    dialogPatient: $("resolve-patient"),
    note: $("resolve-note"),
    resolveError: $("resolve-error"),
    resolveCancel: $("resolve-cancel"),
  };

  let me = null;
  let source = null;
  let retryTimer = null;
  let refetchTimer = null;
  let refetching = false;
  let refetchAgain = false;
  let alerts = [];
  let gateways = [];
  let gatewaysTimer = null;
  let gatewaysFetching = false;
  let gatewaysAgain = false;
  const seen = new Set();
  let resolving = null;

  // --- HTTP ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && problem.detail) || "Request failed (" + status + ")");
      this.status = status;
      this.type = problem && problem.type;
    }
  }

  async function api(path, options) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (init.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(init.body);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError(0, { detail: "Cannot reach the server." });
    }
    if (response.status === 204) return null;
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  function handleError(error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin("Your session has ended. Please log in again.");
      return;
    }
    showNotice(error.message || String(error));
  }

  // --- views --------------------------------------------------------------------------------

  function setConnection(state) {
    const labels = { live: "Live", connecting: "Connecting…", offline: "Offline" };
    view.conn.textContent = labels[state];
    view.conn.className = "conn conn-" + state;
    view.conn.dataset.state = state;
  }

  function showNotice(text) {
    view.notice.textContent = text;
    view.notice.hidden = !text;
  }

  function showLogin(message) {
    stopStream();
    me = null;
    alerts = [];
    gateways = [];
    seen.clear();
    view.panel.hidden = true;
    view.who.hidden = true;
    view.logout.hidden = true;
    view.login.hidden = false;
    view.loginError.textContent = message || "";
    view.loginError.hidden = !message;
    setConnection("offline");
    $("username").focus();
  }

  function showPanel() {
    view.login.hidden = true;
    view.panel.hidden = false;
    view.who.textContent = me.display_name;
    view.who.hidden = false;
    view.logout.hidden = false;
    showNotice("");
    view.alertsView.hidden = !me.clinical;
    view.gatewaysView.hidden = !seesGateways();
    view.gatewayList.replaceChildren();
    view.gatewaysEmpty.hidden = true;
    view.roleNote.hidden = me.clinical;
    if (!me.clinical) {
      view.list.replaceChildren();
      view.empty.hidden = true;
      view.count.textContent = "";
      view.roleNote.textContent = "Your account (" + me.role + ") does not show clinical data.";
      if (!seesGateways()) return;
    }
    startStream();
    refetch();
    refetchGateways();
  }

  function seesGateways() {
    return me !== null && me.site_id !== null;
  }

  // --- time ---------------------------------------------------------------------------------

  function clock(iso) {
    const d = new Date(iso);
    const now = new Date();
    const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    if (d.toDateString() === now.toDateString()) return hm;
    return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + hm;
  }

  function ago(iso) {
    const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
    if (minutes < 1) return "just now";
    if (minutes < 60) return minutes + " min ago";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + (minutes % 60) + " min ago";
    return Math.floor(hours / 24) + " days ago";
  }

  // --- the list -----------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // never innerHTML: data is not markup
    return node;
  }

  function render() {
    const items = alerts.map(renderAlert);
    view.list.replaceChildren(...items);
    view.empty.hidden = alerts.length > 0;
    view.count.textContent = alerts.length ? "(" + alerts.length + ")" : "";
    document.title = (alerts.length ? "(" + alerts.length + ") " : "") + "Homeward · Alerts";
  }

  function renderAlert(a) {
    const li = el("li", "alert sev-" + a.severity + " state-" + a.state);
    li.dataset.alertId = String(a.id);
    li.dataset.state = a.state;
    if (!seen.has(a.id)) li.classList.add("is-new");

    const head = el("div", "alert-head");
    head.append(el("span", "sev", a.severity.toUpperCase()));
    head.append(el("span", "patient", a.patient.display_name));
    head.append(el("span", "state", a.state === "open" ? "New" : "Acknowledged"));
    li.append(head);

    li.append(el("p", "evidence", a.evidence.summary));

    const meta = el("p", "meta");
    meta.append(el("span", "since", "Since " + clock(a.evidence.start) + " (" + ago(a.evidence.start) + ")"));
    meta.append(el("span", "rule", a.title));
    if (a.acknowledged_by) {
      meta.append(el("span", "ack", "Acknowledged by " + a.acknowledged_by.display_name + " at " + clock(a.acknowledged_at)));
    }
    li.append(meta);

    const actions = el("div", "actions");
    if (a.state === "open") {
      const ack = el("button", "btn btn-ack", "Acknowledge");
      ack.type = "button";
      ack.addEventListener("click", () => acknowledge(a, ack));
      actions.append(ack);
    }
    const resolve = el("button", "btn btn-resolve", "Resolve");
    resolve.type = "button";
    resolve.addEventListener("click", () => openResolve(a));
    actions.append(resolve);
    li.append(actions);
    return li;
  }

  async function refetch() {
    if (!me || !me.clinical) return;
    if (refetching) {
      refetchAgain = true; // one more fetch after this one: an event arrived meanwhile
      return;
    }
    refetching = true;
    try {
      const body = await api("/alerts?state=active");
      alerts = body.items;
      render();
      for (const a of alerts) seen.add(a.id);
      showNotice("");
    } catch (error) {
      handleError(error);
    } finally {
      refetching = false;
      if (refetchAgain) {
        refetchAgain = false;
        refetch();
      }
    }
  }

  function scheduleRefetch(delayMs) {
    // Bursts of events (several readings in one batch) cost one fetch.
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(refetch, delayMs);
  }

  // --- home gateways ------------------------------------------------------------------------

  const STATE_LABELS = { offline: "OFFLINE", silent: "SILENT", online: "ONLINE", unknown: "NEVER HEARD" };

  function renderGateways() {
    view.gatewayList.replaceChildren(...gateways.map(renderGateway));
    view.gatewaysEmpty.hidden = gateways.length > 0;
    view.gatewaysCount.textContent = gateways.length ? "(" + gateways.length + ")" : "";
  }

  function renderGateway(g) {
    const li = el("li", "gateway urgency-" + g.urgency + " gw-" + g.state);
    li.dataset.gatewayId = g.gateway_id;
    li.dataset.state = g.state;

    const head = el("div", "gateway-head");
    head.append(el("span", "gw-state", STATE_LABELS[g.state] || g.state.toUpperCase()));
    head.append(el("span", "gw-name", g.label ? g.label + " (" + g.gateway_id + ")" : g.gateway_id));
    if (g.patients.length) {
      head.append(el("span", "gw-patients", "Home of " + g.patients.map((p) => p.display_name).join(", ")));
    }
    li.append(head);

    const issues = el("ul", "gw-issues");
    for (const issue of g.issues) {
      const line = el("li", "gw-issue sev-" + issue.severity, issue.text);
      line.dataset.code = issue.code;
      issues.append(line);
    }
    li.append(issues);

    const meta = el("p", "meta");
    if (g.last_heard_at) {
      meta.append(el("span", "heard", "Last heartbeat " + clock(g.last_heard_at) + " (" + ago(g.last_heard_at) + ")"));
    }
    if (g.outbox && g.outbox.readings) {
      meta.append(el("span", "waiting", g.outbox.readings.toLocaleString() + " readings waiting"));
    }
    li.append(meta);
    return li;
  }

  async function refetchGateways() {
    if (!seesGateways()) return;
    if (gatewaysFetching) {
      gatewaysAgain = true;
      return;
    }
    gatewaysFetching = true;
    try {
      const body = await api("/gateways?attention=true");
      gateways = body.items;
      renderGateways();
    } catch (error) {
      handleError(error);
    } finally {
      gatewaysFetching = false;
      if (gatewaysAgain) {
        gatewaysAgain = false;
        refetchGateways();
      }
    }
  }

  function scheduleGateways(delayMs) {
    clearTimeout(gatewaysTimer);
    gatewaysTimer = setTimeout(refetchGateways, delayMs);
  }

  // --- the live stream ----------------------------------------------------------------------

  function startStream() {
    stopStream();
    setConnection("connecting");
    const es = new EventSource(API + "/alerts/stream");
    source = es;
    es.addEventListener("ready", () => {
      setConnection("live");
      scheduleRefetch(0);
      scheduleGateways(0);
    });
    es.addEventListener("alert", () => scheduleRefetch(100));
    es.addEventListener("gateways", () => scheduleGateways(100));
    es.addEventListener("resync", () => {
      scheduleRefetch(0);
      scheduleGateways(0);
    });
    es.addEventListener("session-ended", () => showLogin("Your session has ended. Please log in again."));
    es.addEventListener("closing", () => {
      // The server is restarting: reconnect on our own schedule.
      stopStream();
      setConnection("offline");
      retryTimer = setTimeout(startStream, STREAM_RETRY_MS);
    });
    es.onerror = () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. a 401): find out why before trying again.
        setConnection("offline");
        stopStream();
        api("/me")
          .then(() => { retryTimer = setTimeout(startStream, STREAM_RETRY_MS); })
          .catch((error) => {
            if (error instanceof ApiError && error.status === 401) handleError(error);
            else retryTimer = setTimeout(startStream, STREAM_RETRY_MS);
          });
      } else {
        setConnection("connecting"); // the browser retries by itself
      }
    };
  }

  function stopStream() {
    clearTimeout(retryTimer);
    if (source) {
      const es = source;
      source = null;
      es.close();
    }
  }

  // --- actions ------------------------------------------------------------------------------

  async function acknowledge(a, button) {
    button.disabled = true;
    try {
      await api("/alerts/" + a.id + "/acknowledge", { method: "POST" });
    } catch (error) {
      handleError(error);
    }
    refetch();
  }

  function openResolve(a) {
    resolving = a;
    view.dialogPatient.textContent = a.patient.display_name + " — " + a.evidence.summary;
    view.note.value = "";
    view.resolveError.hidden = true;
    view.dialog.showModal();
    view.note.focus();
  }

  view.dialogForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = view.note.value.trim();
    if (!note) {
      view.resolveError.textContent = "Please write a short note.";
      view.resolveError.hidden = false;
      return;
    }
    const a = resolving;
    try {
      await api("/alerts/" + a.id + "/resolve", { method: "POST", body: { note: note } });
      view.dialog.close();
      resolving = null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        view.dialog.close();
        handleError(error);
        return;
      }
      view.resolveError.textContent = error.message;
      view.resolveError.hidden = false;
    }
    refetch();
  });

  view.resolveCancel.addEventListener("click", () => {
    resolving = null;
    view.dialog.close();
  });

  // --- login / logout -----------------------------------------------------------------------

  view.loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    view.loginSubmit.disabled = true;
    view.loginError.hidden = true;
    try {
      const body = await api("/auth/login", {
        method: "POST",
        body: { username: $("username").value, password: $("password").value },
      });
      $("password").value = "";
      me = body.user;
      showPanel();
    } catch (error) {
      view.loginError.textContent = error.message;
      view.loginError.hidden = false;
    } finally {
      view.loginSubmit.disabled = false;
    }
  });

  view.logout.addEventListener("click", async () => {
    try {
      await api("/auth/logout", { method: "POST" });
    } catch (error) {
      // Logged out already, or the server is away: either way, show the login form.
    }
    showLogin("");
  });

  // --- start --------------------------------------------------------------------------------

  setInterval(() => {
    if (me && alerts.length) render();
    if (me && gateways.length) renderGateways();
  }, CLOCK_TICK_MS);

  api("/me")
    .then((user) => { me = user; showPanel(); })
    .catch(() => showLogin(""));
})();
