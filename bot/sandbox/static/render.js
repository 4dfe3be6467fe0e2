// Drawing messages: text with Telegram entities, bubbles, keyboards, invoices.
"use strict";

const Render = (() => {
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escape = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
  const COLORS = ["#d95f5f", "#4f8a5b", "#3d6fb6", "#b86fc2", "#d08a2b", "#2a9d8f", "#7a6ad8"];
  const SYMBOLS = { CNY: "¥", USD: "$", EUR: "€", XTR: "⭐" };
  const TAGS = {
    bold: ["<b>", "</b>"],
    italic: ["<i>", "</i>"],
    underline: ["<u>", "</u>"],
    strikethrough: ["<s>", "</s>"],
    code: ["<code>", "</code>"],
    pre: ["<pre>", "</pre>"],
    spoiler: ['<span class="spoiler">', "</span>"],
    blockquote: ["<blockquote>", "</blockquote>"],
    expandable_blockquote: ["<blockquote>", "</blockquote>"],
    mention: ['<span class="ent-link">', "</span>"],
    bot_command: ['<span class="ent-link">', "</span>"],
    hashtag: ['<span class="ent-link">', "</span>"],
    text_mention: ['<span class="ent-link">', "</span>"],
  };

  function color(id) {
    return COLORS[Math.abs(Number(id)) % COLORS.length];
  }

  function initials(name) {
    return escape(Array.from(name || "?")[0].toUpperCase());
  }

  function money(amount, currency) {
    if (currency === "XTR") return `⭐ ${amount}`;
    const symbol = SYMBOLS[currency] ?? `${currency} `;
    return `${symbol}${(amount / 100).toFixed(2)}`;
  }

  function tagsFor(entity, text) {
    if (entity.type === "text_link" || entity.type === "url") {
      const href = entity.type === "url"
        ? text.slice(entity.offset, entity.offset + entity.length) : entity.url;
      return [`<a href="${escape(href)}" target="_blank" rel="noopener">`, "</a>"];
    }
    return TAGS[entity.type] ?? ["", ""];
  }

  // Entities count UTF-16 code units, exactly like JavaScript string indexes.
  function text(source, entities) {
    const opens = new Map();
    const closes = new Map();
    const sorted = [...(entities || [])].sort(
      (a, b) => a.offset - b.offset || b.length - a.length);
    sorted.forEach((entity, order) => {
      const [open, close] = tagsFor(entity, source);
      const end = entity.offset + entity.length;
      if (!opens.has(entity.offset)) opens.set(entity.offset, []);
      if (!closes.has(end)) closes.set(end, []);
      opens.get(entity.offset).push(open);
      closes.get(end).unshift({ close, order });
    });
    let out = "";
    for (let i = 0; i <= source.length; i += 1) {
      (closes.get(i) || []).sort((a, b) => b.order - a.order).forEach((c) => { out += c.close; });
      (opens.get(i) || []).forEach((open) => { out += open; });
      if (i < source.length) out += escape(source[i]);
    }
    return out;
  }

  function time(date) {
    return new Date(date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function keyboard(markup, message) {
    const rows = markup?.inline_keyboard;
    if (!rows?.length) return "";
    const html = rows.map((row) => `<div class="row">${row.map((button) => {
      const label = escape(button.text);
      if (button.url) {
        return `<a href="${escape(button.url)}" target="_blank" rel="noopener">${label} ↗</a>`;
      }
      if (button.pay) {
        return `<button type="button" class="pay-button" ${message.paid ? "disabled" : ""}>${label}</button>`;
      }
      if (button.switch_inline_query_chosen_chat) {
        const query = button.switch_inline_query_chosen_chat.query ?? "";
        return `<button type="button" data-inline="${escape(query)}" data-chosen-chat="1">${label} ↪</button>`;
      }
      if ("switch_inline_query" in button || "switch_inline_query_current_chat" in button) {
        const query = button.switch_inline_query ?? button.switch_inline_query_current_chat;
        return `<button type="button" data-inline="${escape(query)}">${label} ↪</button>`;
      }
      if ("callback_data" in button) {
        return `<button type="button" data-callback="${escape(button.callback_data)}">${label}</button>`;
      }
      return `<button type="button" disabled>${label}</button>`;
    }).join("")}</div>`).join("");
    return `<div class="keyboard">${html}</div>`;
  }

  function invoice(message) {
    const inv = message.invoice;
    const hasPayButton = message.reply_markup?.inline_keyboard?.[0]?.[0]?.pay;
    const button = hasPayButton ? "" : `<button type="button" class="pay pay-button"
      ${message.paid ? "disabled" : ""}>${message.paid ? "Paid ✓" : `Pay ${money(inv.total_amount, inv.currency)}`}</button>`;
    return `<div class="invoice"><h3>${escape(inv.title)}</h3><p>${escape(inv.description)}</p>
      <div class="amount">${money(inv.total_amount, inv.currency)}</div>${button}</div>`;
  }

  function quote(reply, names) {
    if (!reply) return "";
    const body = reply.text ?? reply.caption ?? (reply.photo ? "📷 Photo" : "Message");
    return `<div class="quote"><b>${escape(names(reply.from))}</b>${escape(body.slice(0, 90))}</div>`;
  }

  function message(m, { own, names, showSender }) {
    if (m.successful_payment) {
      const p = m.successful_payment;
      return `<li class="service" data-id="${m.message_id}">💸 ${escape(names(m.from))} paid
        ${money(p.total_amount, p.currency)}</li>`;
    }
    const sender = m.from;
    const via = m.via_bot ? ` <span class="via">via @${escape(m.via_bot.username)}</span>` : "";
    const head = showSender || via
      ? `<div class="sender" style="color:${color(sender.id)}">${escape(names(sender))}${via}</div>` : "";
    let body = quote(m.reply_to_message, names);
    if (m.photo_url) body += `<img class="photo" src="${m.photo_url}" alt="photo">`;
    if (m.document_url) {
      body += `<a class="document" href="${m.document_url}" download="${escape(m.document.file_name || "file")}">📄 ${escape(m.document.file_name || "document")}</a>`;
    }
    if (m.invoice) body += invoice(m);
    if (m.users_shared) {
      const picked = m.users_shared.users.map((u) => u.first_name || u.username || u.user_id);
      body += `<div class="text">📇 ${escape(picked.join(", "))}</div>`;
    }
    if (m.text != null) body += `<div class="text">${text(m.text, m.entities)}</div>`;
    if (m.caption != null) body += `<div class="text">${text(m.caption, m.caption_entities)}</div>`;
    const edited = m.edit_date ? "edited · " : "";
    return `<li class="msg${own ? " own" : ""}" data-id="${m.message_id}"
        data-inline="${escape(m.inline_message_id || "")}">
      <div class="avatar" style="background:${color(sender.id)}">${sender.is_bot ? "🤖" : initials(sender.first_name)}</div>
      <div class="bubble">${head}${body}
        <div class="meta"><button type="button" class="reply-link" title="Reply">↩ Reply</button>
          <span>${edited}${time(m.date)}</span></div>
        ${keyboard(m.reply_markup, m)}
      </div></li>`;
  }

  return { escape, color, initials, money, text, message };
})();
