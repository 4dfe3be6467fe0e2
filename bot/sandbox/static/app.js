// The sandbox page: pick a resident, chat in the group and in private with the bot.
"use strict";

const state = {
  bot: null,
  residents: new Map(),
  groups: [],
  chats: new Map(), // chat id -> Map(message id -> message)
  current: null, // resident id
  groupId: null,
  replyTo: { group: null, private: null },
  keyboards: new Map(), // chat id -> reply keyboard markup (from the bot's messages)
  seq: 0,
};

const $ = (selector, root = document) => root.querySelector(selector);

async function api(path, body) {
  const options = body instanceof FormData
    ? { method: "POST", body }
    : body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }
      : {};
  const response = await fetch(`/sandbox/api/${path}`, options);
  const data = await response.json();
  if (!response.ok || data.ok === false) throw new Error(data.error || response.statusText);
  return data;
}

function name(user) {
  if (!user) return "";
  return [user.first_name, user.last_name].filter(Boolean).join(" ");
}

function paneChatId(kind) {
  return kind === "group" ? state.groupId : state.current;
}

function pane(kind) {
  return document.getElementById(kind);
}

function toast(text) {
  const item = document.createElement("div");
  item.className = "toast";
  item.textContent = text;
  $("#toasts").append(item);
  setTimeout(() => item.remove(), 3500);
}

function alertBox(text) {
  $("#alert .alert-text").textContent = text;
  $("#alert").hidden = false;
  $("#alert .alert-ok").focus();
}

function logError(text) {
  const log = $("#log");
  log.hidden = false;
  const line = document.createElement("div");
  line.textContent = `Bot API refused ${text}`;
  log.append(line);
  log.scrollTop = log.scrollHeight;
}

// -- drawing -----------------------------------------------------------------------------

function renderResidents() {
  const nav = $("#residents");
  nav.innerHTML = "";
  for (const resident of state.residents.values()) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "resident";
    chip.dataset.resident = resident.id;
    chip.setAttribute("aria-pressed", String(resident.id === state.current));
    const lang = resident.language_code?.startsWith("zh") ? "中文" : "EN";
    chip.innerHTML = `<span class="avatar" style="background:${Render.color(resident.id)}">
      ${Render.initials(resident.first_name)}</span>${Render.escape(resident.first_name)}
      <small>${lang}</small>`;
    chip.addEventListener("click", () => selectResident(resident.id));
    nav.append(chip);
  }
}

function renderGroupSelect() {
  const select = $("#group-select");
  const mine = state.groups.filter((g) => g.member_ids.includes(state.current));
  select.innerHTML = mine.map((g) => `<option value="${g.id}">${Render.escape(g.title)}</option>`).join("");
  if (!mine.some((g) => g.id === state.groupId)) state.groupId = mine[0]?.id ?? null;
  if (state.groupId) select.value = String(state.groupId);
  const group = state.groups.find((g) => g.id === state.groupId);
  $("#group-sub").textContent = group ? `${group.member_ids.length + 1} members` : "no group";
}

function renderPane(kind) {
  const chatId = paneChatId(kind);
  const list = $(".messages", pane(kind));
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const messages = [...(state.chats.get(chatId)?.values() ?? [])].filter((m) => !m.deleted);
  list.innerHTML = messages.length
    ? messages.map((m) => Render.message(m, {
      own: m.from.id === state.current,
      names: name,
      showSender: kind === "group" && m.from.id !== state.current,
    })).join("")
    : `<li class="empty">${kind === "group" ? "No messages yet. Say hello!" : "Press START to open the wallet."}</li>`;
  if (nearBottom || list.dataset.chat !== String(chatId)) list.scrollTop = list.scrollHeight;
  list.dataset.chat = String(chatId);
  renderReplyKeyboard(kind);
  renderReplying(kind);
  if (kind === "private") {
    const resident = state.residents.get(state.current);
    $(".start-bar", pane(kind)).hidden = Boolean(resident?.started);
  }
}

function renderReplyKeyboard(kind) {
  const box = $(".reply-keyboard", pane(kind));
  const markup = state.keyboards.get(paneChatId(kind));
  box.hidden = !markup;
  box.innerHTML = "";
  for (const row of markup?.keyboard ?? []) {
    for (const button of row) {
      const label = typeof button === "string" ? button : button.text;
      const key = document.createElement("button");
      key.type = "button";
      key.textContent = label;
      if (button.request_users) {
        key.className = "request-users";
        key.addEventListener("click", () => openPicker(kind, label, button.request_users));
      } else {
        key.addEventListener("click", () => send(kind, label));
      }
      box.append(key);
    }
  }
}

// Telegram's contact picker (a request_users button): the residents to choose from.
function openPicker(kind, label, rule) {
  const dialog = $("#picker");
  const list = $(".picker-list", dialog);
  const most = rule.max_quantity ?? 1;
  $(".picker-title", dialog).textContent = most > 1 ? `Choose up to ${most} people` : "Choose a contact";
  list.innerHTML = "";
  const chosen = new Set();
  for (const resident of state.residents.values()) {
    if (resident.id === state.current) continue;
    const item = document.createElement("button");
    item.type = "button";
    item.className = "picker-person";
    item.dataset.resident = resident.id;
    item.innerHTML = `<span class="avatar" style="background:${Render.color(resident.id)}">
      ${Render.initials(resident.first_name)}</span><span>${Render.escape(name(resident))}
      <small>${resident.username ? "@" + Render.escape(resident.username) : "no username"}</small></span>`;
    item.addEventListener("click", async () => {
      if (chosen.has(resident.id)) chosen.delete(resident.id); else chosen.add(resident.id);
      item.classList.toggle("chosen", chosen.has(resident.id));
      if (most === 1) await sharePicked(kind, label, [resident.id]);
    });
    list.append(item);
  }
  $(".picker-send", dialog).hidden = most === 1;
  $(".picker-send", dialog).onclick = () => sharePicked(kind, label, [...chosen]);
  dialog.hidden = false;
}

async function sharePicked(kind, label, userIds) {
  $("#picker").hidden = true;
  if (!userIds.length) return;
  try {
    await api("share", { user_id: state.current, chat_id: paneChatId(kind), text: label, user_ids: userIds });
  } catch (error) {
    toast(error.message);
  }
}

function renderReplying(kind) {
  const bar = $(".replying", pane(kind));
  const target = state.replyTo[kind];
  const message = target && state.chats.get(paneChatId(kind))?.get(target);
  bar.hidden = !message;
  if (message) {
    const body = message.text ?? message.caption ?? "📷 Photo";
    $(".replying-text", bar).textContent = `↩ Replying to ${name(message.from)}: ${body.slice(0, 60)}`;
  }
}

function renderAll() {
  renderResidents();
  renderGroupSelect();
  const resident = state.residents.get(state.current);
  $("#private-title").textContent = state.bot ? state.bot.first_name : "Bot";
  $("#private-sub").textContent = `@${state.bot?.username} · private chat with ${resident?.first_name}`;
  renderPane("group");
  renderPane("private");
}

function selectResident(id) {
  state.current = id;
  state.replyTo = { group: null, private: null };
  localStorage.setItem("sandbox.resident", String(id));
  renderAll();
}

// -- events from the server -------------------------------------------------------------

function storeMessage(message) {
  const chatId = message.chat.id;
  if (!state.chats.has(chatId)) state.chats.set(chatId, new Map());
  state.chats.get(chatId).set(message.message_id, message);
}

function showTyping(chatId) {
  for (const kind of ["group", "private"]) {
    if (paneChatId(kind) !== chatId) continue;
    const sub = kind === "group" ? $("#group-sub") : $("#private-sub");
    const before = sub.textContent;
    sub.textContent = `${state.bot.first_name} is typing…`;
    sub.classList.add("typing");
    setTimeout(() => { sub.classList.remove("typing"); sub.textContent = before; }, 2500);
  }
}

function apply(event) {
  if (event.message) {
    storeMessage(event.message);
    state.keyboards.set(event.chat_id, event.chat_keyboard ?? null);
    if (paneChatId("private") === event.chat_id) { // a private chat's question: reply to it
      if (event.force_reply) state.replyTo.private = event.message_id; // as Telegram's apps do
      else if (event.kind === "user_message") state.replyTo.private = null;
    }
  }
  if (event.kind === "delete") {
    const message = state.chats.get(event.chat_id)?.get(event.message_id);
    if (message) message.deleted = true;
  } else if (event.kind === "user_message" && event.message.chat.type === "private") {
    const resident = state.residents.get(event.user_id);
    if (resident) resident.started = true;
  } else if (event.kind === "callback_answer" && event.user_id === state.current && event.text) {
    if (event.show_alert) alertBox(event.text); else toast(event.text);
  } else if (event.kind === "payment_failed" && event.user_id === state.current) {
    alertBox(`Payment failed: ${event.text}`);
  } else if (event.kind === "error") {
    logError(event.text);
  } else if (event.kind === "chat_action") {
    showTyping(event.chat_id);
  }
  return event.chat_id;
}

async function listen() {
  for (;;) {
    try {
      const data = await api(`events?after=${state.seq}`);
      state.seq = data.seq;
      const touched = new Set(data.events.map(apply));
      if (touched.size) {
        for (const kind of ["group", "private"]) {
          if (touched.has(paneChatId(kind)) || touched.has(null)) renderPane(kind);
        }
      }
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

// -- actions ----------------------------------------------------------------------------

async function send(kind, text) {
  const chatId = paneChatId(kind);
  if (!text.trim() || !chatId) return;
  const inline = state.bot && text.startsWith(`@${state.bot.username} `);
  if (inline) return inlineQuery(kind, text.slice(state.bot.username.length + 2));
  try {
    await api("send", {
      user_id: state.current, chat_id: chatId, text, reply_to: state.replyTo[kind],
    });
    state.replyTo[kind] = null;
    renderReplying(kind);
  } catch (error) {
    toast(error.message);
  }
}

async function inlineQuery(kind, query) {
  const box = $(".inline-results", pane(kind));
  try {
    const answer = await api("inline", { user_id: state.current, query });
    box.hidden = false;
    box.innerHTML = answer.results.length ? "" : "No results";
    for (const result of answer.results) {
      const item = document.createElement("button");
      item.type = "button";
      item.innerHTML = `<b>${Render.escape(result.title || result.id)}</b><br>
        <small>${Render.escape(result.description || "")}</small>`;
      item.addEventListener("click", async () => {
        box.hidden = true;
        await api("choose", {
          user_id: state.current, chat_id: paneChatId(kind), query_id: answer.query_id,
          result_id: result.id,
        }).catch((error) => toast(error.message));
      });
      box.append(item);
    }
  } catch (error) {
    toast(`Inline query: ${error.message}`);
  }
}

async function onMessageClick(kind, event) {
  const item = event.target.closest(".msg, .service");
  if (!item) return;
  const messageId = Number(item.dataset.id);
  const chatId = paneChatId(kind);
  const inlineId = item.dataset.inline || null;
  const button = event.target.closest("button");
  if (!button) return;
  try {
    if (button.classList.contains("reply-link")) {
      state.replyTo[kind] = messageId;
      renderReplying(kind);
      $(".composer input[type=text]", pane(kind)).focus();
    } else if (button.dataset.callback !== undefined) {
      await api("tap", {
        user_id: state.current, chat_id: chatId, message_id: messageId,
        inline_message_id: inlineId, callback_data: button.dataset.callback,
      });
    } else if (button.dataset.inline !== undefined) {
      // a "choose a chat" switch opens the inline query in the group pane
      const where = button.dataset.chosenChat ? "group" : kind;
      const input = $(".composer input[type=text]", pane(where));
      input.value = `@${state.bot.username} ${button.dataset.inline}`;
      input.focus();
    } else if (button.classList.contains("pay-button")) {
      button.disabled = true;
      button.textContent = "Paying…";
      const result = await api("pay", { user_id: state.current, chat_id: chatId, message_id: messageId });
      if (!result.ok) alertBox(`Payment failed: ${result.error}`);
      renderPane(kind);
    }
  } catch (error) {
    toast(error.message);
    renderPane(kind);
  }
}

function wirePane(kind) {
  const root = pane(kind);
  const form = $(".composer", root);
  const input = $("input[type=text]", form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    send(kind, text);
  });
  $(".messages", root).addEventListener("click", (event) => onMessageClick(kind, event));
  $(".cancel-reply", root).addEventListener("click", () => {
    state.replyTo[kind] = null;
    renderReplying(kind);
  });
  $("input[type=file]", root).addEventListener("change", async (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    const form = new FormData();
    form.append("user_id", state.current);
    form.append("chat_id", paneChatId(kind));
    form.append("photo", file);
    await api("photo", form).catch((error) => toast(error.message));
  });
}

async function main() {
  const initial = await api("state");
  state.bot = initial.bot;
  state.groups = initial.groups;
  for (const resident of initial.residents) state.residents.set(resident.id, resident);
  const saved = Number(localStorage.getItem("sandbox.resident"));
  state.current = state.residents.has(saved) ? saved : initial.residents[0]?.id;
  $("#bot-name").textContent = `@${state.bot.username}`;
  wirePane("group");
  wirePane("private");
  $("#group-select").addEventListener("change", (event) => {
    state.groupId = Number(event.target.value);
    renderPane("group");
  });
  $(".start-button").addEventListener("click", () => send("private", "/start"));
  $("#alert .alert-ok").addEventListener("click", () => { $("#alert").hidden = true; });
  $("#picker .picker-close").addEventListener("click", () => { $("#picker").hidden = true; });
  renderAll();
  listen();
}

main();
